# idcs-edge: Node 24 runs the TypeScript sources directly (type stripping), so there is no build stage.
FROM node:24-bookworm-slim

# The edge reads these (README "Environment variables"): the config file, and the ports, which win over
# the file's. So a config mounted over /app/config (the shipped one says 8080/8443, for a run without
# root) still listens on 80/443 inside the container.
ENV NODE_ENV=production \
    IDCS_EDGE_CONFIG=/app/config/edge.yaml \
    IDCS_EDGE_HTTP_PORT=80 \
    IDCS_EDGE_HTTPS_PORT=443
WORKDIR /app

# Non-root may bind 80/443: give the node binary CAP_NET_BIND_SERVICE (runtimes without Docker's
# unprivileged-port sysctl need it). tini reaps children and forwards SIGTERM/SIGHUP/SIGUSR2 to the edge.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin tini \
 && setcap 'cap_net_bind_service=+ep' "$(readlink -f /usr/local/bin/node)" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY config ./config
# The node user (uid 1000, gid 1000) owns what the edge writes; a bind mount in their place must too.
RUN mkdir -p certs logs data \
 && chown -R node:node certs logs data config

USER node
EXPOSE 80 443
VOLUME ["/app/certs", "/app/config", "/app/logs", "/app/data"]
# Asks the running edge (the admin listener's /healthz, else the HTTP listener); it never validates the
# config file, so an edit in progress does not mark a serving edge unhealthy. Exit 0 healthy, 1 not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "src/healthcheck.ts"]
# --disable-sigusr1: SIGUSR1 must not open Node's inspector; --max-semi-space-size=4: a smaller young
# generation (bin/idcs-edge.js says why, and would re-exec to add either).
# The config is $IDCS_EDGE_CONFIG; arguments after the image name are the CLI's (--check-config, certs, ...).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--disable-sigusr1", "--max-semi-space-size=4", "bin/idcs-edge.js"]
