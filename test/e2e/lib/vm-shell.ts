// Host side of the VM's test shell (guest side: /usr/local/sbin/e2e-shell from build-rootfs.sh),
// reached through the unix socket QEMU gives the virtio-serial port "e2e.shell". The host sends
// "<id> <base64 script>\n"; the guest runs it with bash, stdout and stderr merged, and answers
// "__E2E_BEGIN <id>\n" <output> "__E2E_END <id> <rc>\n". Output framed with another id is what a
// client that timed out left behind and is skipped. The port is one byte stream: one at a time.

import { randomBytes } from 'crypto';
import * as net from 'net';

export interface ShellResult { code: number; out: string }

/** Runs one script in the guest; rejects on timeout or a socket error, with what arrived so far. */
export function runInGuest(sock: string, script: string, timeoutMs: number): Promise<ShellResult> {
  const id = randomBytes(8).toString('hex');
  const begin = `__E2E_BEGIN ${id}\n`;
  const end = new RegExp(`__E2E_END ${id} (\\d+)\\n`);
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let buf = Buffer.alloc(0);
    const finish = (err: Error | null, r?: ShellResult) => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err); else resolve(r!);
    };
    const timer = setTimeout(() => {
      finish(new Error(`e2e: guest shell gave no answer in ${timeoutMs} ms to ${JSON.stringify(script.slice(0, 200))}; got ${JSON.stringify(buf.toString('utf8').slice(-500))}`));
    }, timeoutMs);
    s.on('error', (e) => finish(Object.assign(new Error(`e2e: guest shell socket ${sock}: ${e.message}`), { cause: e })));
    s.on('connect', () => s.write(`${id} ${Buffer.from(script).toString('base64')}\n`));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('latin1');
      const b = text.indexOf(begin);
      if (b < 0) return;
      const m = end.exec(text.slice(b + begin.length));
      if (!m) return;
      const out = buf.subarray(b + begin.length, b + begin.length + m.index).toString('utf8');
      finish(null, { code: Number(m[1]), out });
    });
  });
}

/** Serialises calls on one shell socket, since concurrent scripts would share one byte stream. */
export function serialShell(sock: string): (script: string, timeoutMs: number) => Promise<ShellResult> {
  let last: Promise<unknown> = Promise.resolve();
  return (script, timeoutMs) => {
    const next = last.catch(() => undefined).then(() => runInGuest(sock, script, timeoutMs));
    last = next;
    return next;
  };
}
