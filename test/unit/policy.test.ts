/**
 * The pure parts of access rules and bandwidth caps: CIDR rules by table (deny wins, allow lists, IPv6,
 * IPv4-mapped), token buckets on a fake clock, and the capped pipe on fake timers (the source is paused
 * while the bucket is in debt, nothing is buffered beyond the chunk in hand).
 */
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it, mock } from 'node:test';
import { fakeTicks } from '../../src/clock.ts';
import { accessCheckOf, compileAccess } from '../../src/policy/access.ts';
import { parseBasic } from '../../src/policy/basic-auth.ts';
import { bytesPerSecondOfMbps, createBucket, defaultBurstBytes } from '../../src/policy/bucket.ts';
import { parsePasswordHash } from '../../src/policy/password.ts';
import { pipeCapped } from '../../src/policy/throttle.ts';

describe('access rules', () => {
  const check = accessCheckOf([
    compileAccess({ allow: ['10.0.0.0/8', '2001:db8::/32', '::ffff:192.168.0.0/112'], deny: ['10.6.6.0/24'] }, 'proxies[0] (a.example.com)'),
    compileAccess({ deny: ['10.9.0.0/16'] }, 'vms[1] (user1/web1)'),
  ])!;
  const cases: Array<[string, string | null]> = [
    ['10.1.2.3', null],
    ['::ffff:10.1.2.3', null],
    ['10.6.6.6', '10.6.6.6 is in the deny list of proxies[0] (a.example.com)'],
    ['10.9.1.1', '10.9.1.1 is in the deny list of vms[1] (user1/web1)'],
    ['11.0.0.1', '11.0.0.1 is not in the allow list of proxies[0] (a.example.com)'],
    ['2001:db8::5', null],
    ['2001:db9::5', '2001:db9::5 is not in the allow list of proxies[0] (a.example.com)'],
    ['192.168.7.7', null],
    ['', 'the client address "" is not an IP address'],
  ];
  for (const [ip, want] of cases) it(`${ip || '(none)'}: ${want ?? 'admitted'}`, () => assert.equal(check.refusal(ip), want));

  it('has nothing to check when no level has rules', () => {
    assert.equal(accessCheckOf([compileAccess(undefined, 'x'), compileAccess({ allow: [], deny: [] }, 'y'), null]), null);
  });
});

describe('token bucket', () => {
  it('passes the burst at once, then asks for the time the debt takes to pay, and refills up to the burst', () => {
    const now = fakeTicks();
    const b = createBucket({ bytesPerSecond: 1000, burstBytes: 500, now });
    assert.equal(b.take(400), 0);
    assert.equal(b.take(300), 200, '200 bytes of debt at 1000 B/s: 200 ms');
    now.advance(200);
    assert.equal(b.take(0), 0);
    now.advance(10_000);
    assert.equal(b.take(500), 0, 'refilled to the burst, not beyond');
    assert.equal(b.take(1), 1);
  });

  it('tryTake never goes into debt (datagrams are dropped instead)', () => {
    const now = fakeTicks();
    const b = createBucket({ bytesPerSecond: 1000, burstBytes: 1000, now });
    assert.equal(b.tryTake(800), true);
    assert.equal(b.tryTake(300), false);
    now.advance(100);
    assert.equal(b.tryTake(300), true);
  });

  it('gives two streams sharing a bucket the rate together', () => {
    const now = fakeTicks();
    const b = createBucket({ bytesPerSecond: 10_000, burstBytes: 1000, now });
    let sent = 0;
    const next = [0, 0];
    // Each stream sends 500-byte chunks whenever its pause is over, for 10 simulated seconds.
    for (let t = 0; t < 10_000; t++, now.advance(1)) {
      for (const s of [0, 1]) {
        if (next[s]! > t) continue;
        sent += 500;
        next[s] = t + b.take(500);
      }
    }
    assert.ok(Math.abs(sent - 100_000) <= 2000, `sent ${sent} in 10 s at 10,000 B/s`);
  });

  it('converts Mbps and picks a burst of 100 ms, at least 64 KiB', () => {
    assert.equal(bytesPerSecondOfMbps(8), 1_000_000);
    assert.equal(defaultBurstBytes(1_000_000), 100_000);
    assert.equal(defaultBurstBytes(10_000), 65_536);
  });
});

describe('capped pipe', () => {
  it('pauses the source while the bucket is in debt and resumes when it is paid, ending the destination with the source', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const now = fakeTicks();
      const bucket = createBucket({ bytesPerSecond: 1000, burstBytes: 1000, now });
      const src = new PassThrough({ highWaterMark: 1 });
      const got: Buffer[] = [];
      let ended = false;
      const dst = new Writable({ write(c, _e, cb) { got.push(c); cb(); }, final(cb) { ended = true; cb(); } });
      pipeCapped(src, dst, [bucket]);
      for (let i = 0; i < 5; i++) src.write(Buffer.alloc(500));
      src.end();
      const settle = () => new Promise<void>((r) => setImmediate(r));
      await settle();
      // 1000 bytes of burst, then the third chunk puts the bucket 500 bytes in debt: paused for 500 ms.
      assert.equal(got.length, 3);
      now.advance(499);
      mock.timers.tick(499);
      await settle();
      assert.equal(got.length, 3, 'still paused');
      now.advance(1);
      mock.timers.tick(1);
      await settle();
      assert.equal(got.length, 4);
      now.advance(500);
      mock.timers.tick(500);
      await settle();
      assert.equal(got.length, 5);
      now.advance(500);
      mock.timers.tick(500);
      await settle();
      assert.equal(ended, true);
    } finally {
      mock.timers.reset();
    }
  });
});

describe('basic auth input', () => {
  it('reads Basic credentials (RFC 7617: the user ends at the first colon)', () => {
    assert.deepEqual(parseBasic(`Basic ${Buffer.from('alice:pa:ss').toString('base64')}`), { user: 'alice', password: 'pa:ss' });
    assert.equal(parseBasic('Bearer abc'), null);
    assert.equal(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`), null);
    assert.equal(parseBasic(undefined), null);
  });

  it('accepts scrypt (PHC) and bcrypt hashes, never a password or an absurd cost', () => {
    assert.equal(parsePasswordHash('$scrypt$ln=15,r=8,p=1$h+5QZQLZWCmNmCWIRt5kNQ$7b8l2MGQC5s5ju0aHRNi9OcLy0YO/gURdTNPL/LFffk')?.kind, 'scrypt');
    assert.equal(parsePasswordHash('$2b$10$qcaISpCtP2R2YyaTUSI2xeziu/ksIP6PI0xNzHqPTu0lpCnpCIPmG')?.kind, 'bcrypt');
    assert.equal(parsePasswordHash('hunter2'), null);
    assert.equal(parsePasswordHash('$scrypt$ln=30,r=8,p=1$h+5QZQLZWCmNmCWIRt5kNQ$7b8l2MGQC5s5ju0aHRNi9OcLy0YO/gURdTNPL/LFffk'), null);
  });
});
