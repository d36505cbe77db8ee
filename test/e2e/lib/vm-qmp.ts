// Host side of the VM's QMP monitor (QEMU's `-qmp unix:...,server=on,wait=off`): one connection
// per command, the capabilities handshake, then the command and its answer. Used to pause the
// guest (`stop`, `cont`) the way a hypervisor does for a migration, a snapshot or a host suspend.

import * as net from 'net';

/** Runs one QMP command; resolves with its `return`, rejects with QEMU's error or on timeout. */
export function qmp(sock: string, execute: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let buf = '';
    let step = 0;
    const finish = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`e2e: QMP ${execute}: no answer in ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (e) => finish(Object.assign(new Error(`e2e: QMP socket ${sock}: ${e.message}`), { cause: e })));
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        // Events (STOP, RESUME...) may arrive between the answers: they are not answers.
        if (m.event) continue;
        if (m.error) return finish(new Error(`e2e: QMP ${execute}: ${m.error.desc}`));
        if (step === 0 && m.QMP) { step = 1; s.write('{"execute":"qmp_capabilities"}\n'); continue; }
        if (step === 1 && 'return' in m) { step = 2; s.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n'); continue; }
        if (step === 2 && 'return' in m) return finish(null, m.return);
      }
    });
  });
}
