/**
 * HTTP-01 tokens in storage and the responders that serve them: only token-shaped names are ever asked for,
 * nothing outside the challenge folder is served, and a second process (a --renew-ssl run) can serve on its
 * own port or defer to the edge already holding it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createChallengeResponder, createChallengeStore, isValidToken, serveChallengesStandalone } from '../../src/acme/challenges.ts';
import { request } from '../helpers/net.ts';
import { testStorage } from '../helpers/storage.ts';

function dirs(t: TestContext) {
  const root = mkdtempSync(join(tmpdir(), 'edge-acme-ch-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const certs = join(root, 'certs');
  // The storage an edge with this certs.dir opens: tokens in `acme-challenges` next to it.
  return { root, challenges: join(root, 'acme-challenges'), certs, storage: () => testStorage(t, certs) };
}

describe('ACME challenge tokens', () => {
  it('are published atomically, answered, and removed', async (t) => {
    const { challenges, storage } = dirs(t);
    const store = createChallengeStore(storage());
    const responder = createChallengeResponder(storage());
    await store.put('tok_EN-1', 'tok_EN-1.thumbprint');
    assert.equal(await responder.answer('tok_EN-1'), 'tok_EN-1.thumbprint');
    assert.equal(await responder.answerPath('/.well-known/acme-challenge/tok_EN-1?x=1'), 'tok_EN-1.thumbprint');
    assert.deepEqual(readdirSync(challenges), ['tok_EN-1'], 'no temp files left');
    await store.remove('tok_EN-1');
    await store.remove('tok_EN-1');
    assert.equal(await responder.answer('tok_EN-1'), null);
  });

  it('never open a path outside the folder, a temp file, or a symlink', async (t) => {
    const { root, challenges, certs, storage } = dirs(t);
    mkdirSync(challenges);
    mkdirSync(certs);
    writeFileSync(join(certs, 'key.pem'), 'PRIVATE KEY');
    writeFileSync(join(challenges, '.hidden.tmp'), 'half');
    symlinkSync(join(certs, 'key.pem'), join(challenges, 'linked'));
    const responder = createChallengeResponder(storage());
    for (const token of ['../certs/key.pem', '..%2Fcerts%2Fkey.pem', '.hidden.tmp', 'a/b', '', 'x'.repeat(300), 'linked']) {
      assert.equal(await responder.answer(token), null, token);
    }
    assert.equal(await responder.answerPath('/.well-known/acme-challenge/../../certs/key.pem'), null);
    assert.equal(await responder.answerPath('/certs/key.pem'), null);
    assert.equal(isValidToken('..'), false);
    await assert.rejects(createChallengeStore(storage()).put('../escape', 'x'), /unexpected characters/);
    assert.deepEqual(readdirSync(root).sort(), ['acme-challenges', 'certs']);
  });
});

describe('standalone challenge responder', () => {
  it('answers tokens for any Host (with port) and 404s everything else', async (t) => {
    const { storage } = dirs(t);
    await createChallengeStore(storage()).put('abc', 'abc.key');
    const srv = await serveChallengesStandalone({ port: 0, host: '127.0.0.1', responder: createChallengeResponder(storage()) });
    assert.ok(srv);
    t.after(() => srv.close());

    const ok = await request(srv.port, 'app.example.com:8080', { path: '/.well-known/acme-challenge/abc' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'abc.key');
    assert.equal((await request(srv.port, 'other.example', { path: '/.well-known/acme-challenge/nope' })).status, 404);
    assert.equal((await request(srv.port, 'other.example', { path: '/' })).status, 404);
    assert.equal((await request(srv.port, 'app.example.com', { path: '/.well-known/acme-challenge/abc', method: 'POST' })).status, 404);
  });

  it('resolves null when the port is taken (the running edge answers)', async (t) => {
    const { storage } = dirs(t);
    const busy = http.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => busy.close(() => r())));
    const port = (busy.address() as { port: number }).port;

    const srv = await serveChallengesStandalone({ port, host: '127.0.0.1', responder: createChallengeResponder(storage()) });

    assert.equal(srv, null);
  });
});
