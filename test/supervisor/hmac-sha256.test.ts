// The heartbeat's HMAC-SHA256 in JavaScript: RFC 4231's vectors, Node's crypto on every message and
// key length around the block edges, and the heartbeat made without Node's crypto.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import { hmacSha256 } from '../../supervisor/hmac-sha256';
import { encodeHeartbeat, HeartbeatPayload, macIsValid } from '../../supervisor/heartbeat-packet';

const mac = (key: Buffer, data: Buffer): string => { const out = Buffer.alloc(32); hmacSha256(key, data, out, 0); return out.toString('hex'); };

test('RFC 4231 test cases 1, 2 and 6 (a key longer than a block)', () => {
  assert.is(mac(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  assert.is(mac(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  assert.is(mac(Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
});

test("Node's crypto gives the same MAC, for every length around the block edges, written into a pooled buffer", () => {
  for (const keyLength of [32, 63, 64, 65, 128]) {
    const key = crypto.randomBytes(keyLength);
    for (let n = 0; n <= 300; n += n < 130 ? 1 : 17) {
      const data = crypto.randomBytes(n);
      // allocUnsafe hands out slices of a shared pool: a byteOffset that is not 0.
      const out = Buffer.allocUnsafe(40);
      hmacSha256(key, data, out, 3);
      assert.is(out.subarray(3, 35).toString('hex'), crypto.createHmac('sha256', key).update(data).digest('hex'), `key ${keyLength}, ${n} bytes`);
    }
  }
});

test("a heartbeat is signed without Node's crypto, and the receiver's check takes it", () => {
  const key = crypto.randomBytes(32);
  const payload = { boot: 'b', interval_ms: 10000 } as unknown as HeartbeatPayload;
  const header = { vmId: 'vm-1', keyId: 'k1', startCounter: 5n, epoch: '0123456789abcdef', seq: 1n, payload };
  const live = require('crypto') as { createHmac: unknown };
  const createHmac = live.createHmac;
  live.createHmac = () => { throw new Error('createHmac used'); };
  let d: Buffer;
  try { d = encodeHeartbeat(header, key); } finally { live.createHmac = createHmac; }
  assert.ok(macIsValid(d, key));
  d[10] ^= 1;
  assert.not.ok(macIsValid(d, key));
});

test.run();
