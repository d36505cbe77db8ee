// A qemu-ga client that behaves on the wire exactly as Proxmox VE's does (qemu-server,
// PVE/QMPClient.pm and PVE/API2/Qemu/Agent.pm), so tests can drive an agent the way a Proxmox host
// does without Perl's modules (Proxmox is not in Debian):
// - one connection per command, closed after it;
// - one write holding `guest-sync-delimited` (id: the client's pid, "0", then a counter) and the
//   command, each a compact JSON object on its own line; `arguments` always present; keys in
//   any order (Perl hashes);
// - no 0xFF sent first; the reply is taken from the buffer with Proxmox's own pattern
//   /^.*\xff([^\n]+}\r?\n[^\n]+})\r?\n(.*)$/s: the last 0xFF, the sync reply, the command reply;
//   a sync reply with an older id is skipped, another id is an error;
// - guest-shutdown and guest-suspend-* may end with EOF after the sync reply alone;
// - timeouts: 5 s, 3 s for the ping Proxmox uses to see whether the agent runs, 10 min for fstrim
//   and shutdown, 1 h for fsfreeze-freeze, 3 min for fsfreeze-thaw.

import * as net from 'net';

const ALLOW_CLOSE = new Set(['guest-shutdown', 'guest-suspend-ram', 'guest-suspend-disk', 'guest-suspend-hybrid']);
const REPLY = /^.*\xff([^\n]+}\r?\n[^\n]+})\r?\n(.*)$/s;
const SYNC_ONLY = /^.*\xff([^\n]+})\r?\n(.*)$/s;

export interface ProxmoxResult {
  /** The command's `return`, or undefined when it closed without a reply (allowed commands only). */
  return?: unknown;
  error?: { class: string; desc: string };
}

function timeoutFor(execute: string): number {
  if (execute === 'guest-ping') return 3000;
  if (execute === 'guest-fsfreeze-freeze') return 3600_000;
  if (execute === 'guest-fsfreeze-thaw') return 180_000;
  if (execute === 'guest-fstrim' || execute === 'guest-shutdown') return 600_000;
  return 5000;
}

/** Compact JSON with the keys of every object in a random order, as Perl's JSON writes a hash. */
export function perlJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(perlJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort(() => Math.random() - 0.5);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${perlJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Perl's MIME::Base64::encode_base64: lines of 76 characters, each ending in "\n". */
export function perlBase64(data: Buffer | string): string {
  const b64 = Buffer.from(data).toString('base64');
  return b64.replace(/.{1,76}/g, (l) => `${l}\n`);
}

let counter = 0;

export class ProxmoxQga {
  constructor(private readonly sock: string, private readonly label = 'VM') {}

  cmd(execute: string, args: Record<string, unknown> = {}, timeoutMs = timeoutFor(execute)): Promise<ProxmoxResult> {
    const id = Number(`${process.pid}0${++counter}`);
    const text = `${perlJson({ execute: 'guest-sync-delimited', arguments: { id } })}\n${perlJson({ execute, arguments: args })}\n`;
    return new Promise((resolve, reject) => {
      const s = net.connect(this.sock);
      let input = '';
      let done = false;
      const finish = (err: Error | null, r?: ProxmoxResult): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        s.destroy();
        if (err) reject(err); else resolve(r!);
      };
      const timer = setTimeout(() => finish(new Error(`${this.label} qmp command '${execute}' failed - got timeout (${input.length} bytes in the buffer)`)), timeoutMs);
      s.on('error', (e) => finish(e));
      s.on('connect', () => s.write(text));
      s.on('data', (d) => {
        input += d.toString('latin1');
        for (;;) {
          const m = REPLY.exec(input);
          if (!m) return;
          input = m[2];
          const [syncLine, replyLine] = m[1].split('\n');
          let sync: { return?: unknown };
          try { sync = JSON.parse(syncLine); } catch (e) { finish(e as Error); return; }
          const cmdid = Number(sync.return);
          if (!cmdid) { finish(new Error('received responsed without command id')); return; }
          // Replies to earlier commands are skipped.
          if (cmdid < id) continue;
          if (cmdid !== id) { finish(new Error(`got wrong command id '${cmdid}' (expected ${id})`)); return; }
          try { finish(null, JSON.parse(replyLine.replace(/\r$/, ''))); } catch (e) { finish(e as Error); }
          return;
        }
      });
      s.on('end', () => {
        if (ALLOW_CLOSE.has(execute) && SYNC_ONLY.test(input)) finish(null, {});
        else finish(new Error('client closed connection'));
      });
    });
  }
}
