#!/usr/bin/env node
// DNS-01 hook for tests: `dns-hook.mjs set|clear <_acme-challenge.name> <value>` publishes or removes a TXT
// record in pebble-challtestsrv's mock DNS through its management API (CHALLTESTSRV_URL). This is the same
// contract a production hook implements against a real DNS provider.
const [action, name, value] = process.argv.slice(2);
const base = process.env.CHALLTESTSRV_URL;
if (!base || !name || (action !== 'set' && action !== 'clear')) {
  process.stderr.write('usage: CHALLTESTSRV_URL=http://127.0.0.1:<port> dns-hook.mjs set|clear <name> <value>\n');
  process.exit(2);
}
// challtestsrv wants a fully qualified name: the trailing dot is required.
const host = name.endsWith('.') ? name : `${name}.`;
const body = action === 'set' ? { host, value } : { host };
const res = await fetch(`${base}/${action === 'set' ? 'set-txt' : 'clear-txt'}`, { method: 'POST', body: JSON.stringify(body) });
if (!res.ok) {
  process.stderr.write(`challtestsrv ${action}: HTTP ${res.status} ${await res.text()}\n`);
  process.exit(1);
}
