/**
 * `storage.type: redis` with `config.source: file`: two edges with rules of their own share certificates
 * through one real redis-server: a self-signed certificate one of them made (at start, or for a name added
 * later) is the one the other serves, and the other makes none of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { peerCertificate, waitFor } from '../helpers/net.ts';
import { startRedis } from '../helpers/redis.ts';

describe('two edges sharing a Redis storage, each with its own rules file', () => {
  it('serve the same certificates', async (t) => {
    const redis = await startRedis(t);
    const storage = { type: 'redis', url: redis.url, keyPrefix: 'shared:' };
    const proxy = (domain: string) => ({ domain, target: '127.0.0.1', targetPort: 9, ssl: true });
    const a = await startTestEdge(t, { storage, proxies: [proxy('one.example.com')] });
    const b = await startTestEdge(t, { storage, proxies: [proxy('one.example.com')] });
    const fingerprint = async (port: number | null, name: string) => (await peerCertificate(port!, name)).fingerprint256;
    assert.equal(await fingerprint(a.edge.httpsPort, 'one.example.com'), await fingerprint(b.edge.httpsPort, 'one.example.com'));

    // A name only A serves: its certificate, stored by A, is what B serves once B's rules name it too.
    a.writeConfig({ storage, proxies: [proxy('one.example.com'), proxy('two.example.com')] });
    const made = await waitFor('A to serve two.example.com', async () => {
      const c = await peerCertificate(a.edge.httpsPort!, 'two.example.com');
      return /two\.example\.com/.test(c.subjectaltname ?? '') ? c.fingerprint256 : null;
    });
    b.writeConfig({ storage, proxies: [proxy('one.example.com'), proxy('two.example.com')] });
    await waitFor('B to serve the certificate A made', async () => await fingerprint(b.edge.httpsPort, 'two.example.com') === made);
    assert.equal(b.logs.filter((l) => l.msg === 'self-signed certificate created' && l.name === 'two.example.com').length, 0, 'B made none of its own');
  });
});
