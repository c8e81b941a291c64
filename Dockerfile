# idcs-edge: Node 24 runs the TypeScript sources directly (type stripping), so there is no build stage.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
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
# In the image the shipped config listens on the standard ports.
RUN sed -i -e 's/^  http: 8080$/  http: 80/' -e 's/^  https: 8443$/  https: 443/' config/edge.yaml \
 && mkdir -p certs logs data \
 && chown -R node:node certs logs data config

USER node
EXPOSE 80 443
VOLUME ["/app/certs", "/app/config", "/app/logs", "/app/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "src/healthcheck.ts", "config/edge.yaml"]
# --disable-sigusr1: SIGUSR1 must not open Node's inspector (bin/idcs-edge.js would re-exec to add it).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--disable-sigusr1", "bin/idcs-edge.js"]
CMD ["--config", "config/edge.yaml"]
