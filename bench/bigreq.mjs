// One large request at a raised max-request-bytes: a 50 MB guest-file-write (base64), the use a
// panel raises the limit for. Samples the agent's anon memory every 20 ms from the request on:
// its peak growth against the request's size, and how long after the reply the memory is back
// within 2 MiB of where it was. Beside qemu-ga (its limit is 64 MiB) in the same run.
// Usage: npm run build && node bench/bigreq.mjs [--mb 50] [--node PATH] [--json FILE]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, connectRetry, loadAverage, now, pssAnon, QEMU_GA, sleep, startPhoenix, startQemuGa, stop, workerPid } from './lib.mjs';

const MB = Number(arg('mb', 50));
const say = (m) => process.stderr.write(`bigreq: ${m}\n`);

async function measure(kind) {
  const dir = mkdtempSync(join(tmpdir(), `bench-big-${kind}-`));
  // max-request-bytes is a config file key (the file must be root's and not group-writable).
  writeFileSync(`${dir}/conf`, `max-request-bytes = ${64 << 20}\n`, { mode: 0o600 });
  const proc = kind === 'qemu-ga' ? startQemuGa(dir) : startPhoenix(dir, ['--config', `${dir}/conf`, '--block-rpcs', '']);
  const c = await connectRetry(`${dir}/a.sock`);
  const pid = () => (kind === 'qemu-ga' ? proc.pid : workerPid(dir));
  const target = join(dir, 'big.bin');
  const handle = JSON.parse(await c.req(JSON.stringify({ execute: 'guest-file-open', arguments: { path: target, mode: 'w' } }))).return;
  await sleep(12_000);
  const base = pssAnon(pid());
  const head = `{"execute":"guest-file-write","arguments":{"handle":${handle},"buf-b64":"`;
  const b64Len = MB * 1e6 - head.length - 3;
  const request = head + Buffer.alloc(Math.floor((b64Len / 4) * 3), 0x5a).toString('base64') + '"}}';
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, pssAnon(pid())); }, 20);
  const t0 = now();
  const reply = await c.req(request);
  const replyMs = now() - t0;
  const ok = reply.includes('"count"');
  const tr = now();
  let backMs = null;
  while (now() - tr < 15_000) {
    const a = pssAnon(pid());
    peak = Math.max(peak, a);
    if (a <= base + 2048) { backMs = now() - tr; break; }
    await sleep(20);
  }
  clearInterval(sampler);
  const keptMiB = (pssAnon(pid()) - base) / 1024;
  await c.req(JSON.stringify({ execute: 'guest-file-close', arguments: { handle } }));
  c.close();
  await stop(proc);
  rmSync(target, { force: true });
  return { ok, requestMB: request.length / 1e6, baseKiB: base, peakGrowthMiB: (peak - base) / 1024, ratio: ((peak - base) * 1024) / request.length, replyMs, backMs, keptMiB };
}

const res = { loadAverage: loadAverage(), phoenix: await measure('phoenix-ga'), qemu: QEMU_GA ? await measure('qemu-ga') : null };
for (const [k, r] of Object.entries({ 'phoenix-ga': res.phoenix, 'qemu-ga': res.qemu })) {
  if (r) say(`${k}: ${r.ok ? 'written' : 'FAILED'}; a ${r.requestMB.toFixed(0)} MB request took +${r.peakGrowthMiB.toFixed(0)} MiB at its peak (${r.ratio.toFixed(2)}x), reply in ${r.replyMs.toFixed(0)} ms, memory back ${r.backMs === null ? `not within 15 s (+${r.keptMiB.toFixed(1)} MiB kept)` : `${(r.backMs / 1000).toFixed(1)} s after it`}`);
}
if (arg('json')) writeFileSync(arg('json'), JSON.stringify(res, null, 1));
