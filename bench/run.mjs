// The benchmark in one command: builds phoenix-ga, installs Debian's qemu-guest-agent when it is
// missing (as root), runs core.mjs on both runtimes the packages ship (Node 20 and Node 16),
// history.mjs, serial.mjs, reads.mjs, bigreq.mjs and collector.mjs, and prints one table with each
// figure beside its performance target (MISS where it is not reached) and its ratio to
// qemu-ga. Writes the same as JSON and an SVG chart (OUT/bench.md, OUT/bench.json, OUT/bench.svg).
// --vm adds vm-idle.mjs (both agents idle in a QEMU VM on real virtio-serial ports; ~6 min more).
// Usage: sudo node bench/run.mjs [--runs 5] [--kills 50] [--idle 60] [--out docs] [--no-build] [--no-node16] [--vm]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CURRENT_NODE, LEGACY_NODE, runtime } from '../build/runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const OUT = join(root, arg('out', 'docs'));
const say = (m) => process.stderr.write(`bench: ${m}\n`);
const findQemuGa = () => ['/usr/sbin/qemu-ga', '/usr/bin/qemu-ga'].find((p) => existsSync(p));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}`);
}

if (!process.argv.includes('--no-build')) sh('npm', ['run', '--silent', 'build'], { cwd: root });
if (!findQemuGa()) {
  if (process.getuid() === 0) {
    say('installing qemu-guest-agent (Debian) to measure beside it');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (spawnSync('apt-get', ['install', '-y', '-q', 'qemu-guest-agent'], { stdio: 'inherit', env }).status !== 0) {
      sh('apt-get', ['update', '-q'], { env });
      sh('apt-get', ['install', '-y', '-q', 'qemu-guest-agent'], { env });
    }
    // The packaged service would hold the port we do not use; only our own instances are measured.
    spawnSync('systemctl', ['stop', 'qemu-guest-agent'], { stdio: 'ignore' });
  } else {
    say('qemu-ga is not installed and we are not root: its columns stay empty (sudo apt-get install qemu-guest-agent)');
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'bench-run-'));
const pass = (names) => names.flatMap((n) => (arg(n) !== undefined ? [`--${n}`, arg(n)] : []));
function part(script, args) {
  say(`running ${script} ${args.join(' ')}`);
  const json = join(tmp, `${script}-${args.join('-').replace(/[^a-z0-9.-]/gi, '')}.json`);
  sh(process.execPath, [join(root, 'bench', script), ...args, '--json', json], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(json, 'utf8'));
}
// The runtimes the packages ship: the .deb's Node 20, the tarball's Node 16 (glibc 2.17).
const node20 = process.version === `v${CURRENT_NODE}` ? process.execPath : runtime(CURRENT_NODE);
const node16 = process.argv.includes('--no-node16') ? null : runtime(LEGACY_NODE);
const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const core = part('core.mjs', [...pass(['runs', 'kills', 'idle', 'settle']), '--node', node20]);
const core16 = node16 ? part('core.mjs', [...pass(['runs', 'kills', 'idle', 'settle']), '--node', node16]) : null;
const history = part('history.mjs', [...pass(['runs']), '--node', node20]);
const serial = part('serial.mjs', ['--node', node20]);
const reads = part('reads.mjs', ['--node', node20]);
const bigreq = part('bigreq.mjs', ['--node', node20]);
const collector = part('collector.mjs', []);
const vmIdle = process.argv.includes('--vm') ? part('vm-idle.mjs', []) : null;
const loadAfter = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const size = (f) => statSync(join(root, 'dist', f)).size / 1000;
const row = (name, phoenix, target, qemu, ok) => ({ name, phoenix, target, qemu, ok });
const H = history, W = H.walk;
/** Core rows of the Node 16 run that differ by runtime, named so. */
const ON_BOTH = /^(start ->|worker kill|anon memory, pair|idle wakeups|heartbeat tick|guest-ping p50|  floor)/;
const READ_TARGETS = new Set(['guest-info', 'guest-get-osinfo', 'guest-get-host-name', 'guest-get-fsinfo', 'guest-network-get-interfaces']);
const rows = [
  ...core.rows.map((r) => ({ ...r, name: `${r.name} (Node ${core.node.replace(/^v(\d+).*/, '$1')})` })),
  ...(core16 ? core16.rows.filter((r) => ON_BOTH.test(r.name)).map((r) => ({ ...r, name: `${r.name} (Node ${core16.node.replace(/^v(\d+).*/, '$1')})` })) : []),
  row('statistics history: worker anon per stored sample (bytes)', H.bytesPerSample, '<= 100', null, H.bytesPerSample <= 100),
  row('start -> first reply, 720 samples (the default, full) / empty history', H.firstReply[720] / H.firstReply[0], '<= 1.1', null, H.firstReply[720] / H.firstReply[0] <= 1.1),
  row('start -> first reply, 10,000 samples / empty history', H.firstReply[10000] / H.firstReply[0], '<= 1.1', null, H.firstReply[10000] / H.firstReply[0] <= 1.1),
  row('worker kill -> serving, 10,000 samples / empty history', H.kill[10000] / H.kill[0], '<= 1.1', null, H.kill[10000] / H.kill[0] <= 1.1),
  row('10,000 samples read back: pages', W[10000].pages, 'info', null, null),
  row('10,000 samples read back: largest reply (KiB)', W[10000].maxBytes / 1024, 'bounded', null, W[10000].maxBytes <= 80 * 1024),
  row('10,000 samples read back: worker CPU per page, max (ms)', W[10000].pageCpuMaxMs, '<= 50', null, W[10000].pageCpuMaxMs <= 50),
  row('10,000 samples read back: longest wait of a ping on another connection (ms)', W[10000].maxPingMs, '<= 50', null, W[10000].maxPingMs <= 50),
  ...(serial.later ? [
    row('serial, host gone 1st minute: worker wakeups/s (pty)', serial.first.worker.wakeupsPerS, 'info', null, null),
    // A pty sends no SIGIO for a peer: this is the fallback poll; the VM rows (--vm) measure the real port.
    row('serial, host gone > 1 min: worker wakeups/s (pty, the fallback poll)', serial.later.worker.wakeupsPerS, 'info', null, null),
    row('serial, host gone > 1 min: supervisor wakeups/s (pty)', serial.later.supervisor.wakeupsPerS, '<= 0.2', null, serial.later.supervisor.wakeupsPerS <= 0.2),
  ] : []),
  ...(vmIdle ? vmRows(vmIdle) : []),
  row('one statistics sample: processes spawned', reads.sample.spawned, '0', null, reads.sample.spawned === 0),
  row('one statistics sample: CPU (ms)', reads.sample.cpuUs / 1000, '<= 0.5', null, reads.sample.cpuUs <= 500),
  row('floor: bare node making one sample\'s system calls (reads, statfs, /proc listing), CPU (ms)', (reads.sample.floorCpuUs ?? NaN) / 1000, 'info', null, null),
  ...Object.entries(reads.commands).filter(([c]) => READ_TARGETS.has(c) || c === 'guest-get-timezone').map(([c, r]) => {
    const target = READ_TARGETS.has(c);
    return row(`${c} p50 (us)`, r.phoenix?.p50 ?? null, target ? "<= qemu-ga's" : 'info', r.qemu?.p50 ?? null, target && r.phoenix && r.qemu ? r.phoenix.p50 <= r.qemu.p50 : null);
  }),
  ...Object.entries(reads.commands).filter(([c]) => READ_TARGETS.has(c)).map(([c, r]) => row(`${c} CPU per call (us)`, r.phoenix?.cpuUsPerCall ?? null, 'info', r.qemu?.cpuUsPerCall ?? null, null)),
  // What any agent on Node pays: a bare node that only plays back phoenix-ga's reply (reads.mjs).
  ...Object.entries(reads.commands).filter(([c, r]) => READ_TARGETS.has(c) && r.floor).flatMap(([c, r]) => [
    row(`  floor: bare node replaying the reply, ${c} p50 (us)`, r.floor.p50, 'info', r.qemu?.p50 ?? null, null),
    row(`  floor: bare node replaying the reply, ${c} CPU per call (us)`, r.floor.cpuUsPerCall, 'info', r.qemu?.cpuUsPerCall ?? null, null),
    ...(r.readsFloor ? [
      row(`  floor: bare node making phoenix-ga's reads, then replaying, ${c} p50 (us)`, r.readsFloor.p50, 'info', r.qemu?.p50 ?? null, null),
      row(`  floor: bare node making phoenix-ga's reads, then replaying, ${c} CPU per call (us)`, r.readsFloor.cpuUsPerCall, 'info', r.qemu?.cpuUsPerCall ?? null, null),
    ] : []),
  ]),
  // A panel's poll: one call now and then to an idle agent, its caches cold (reads.mjs).
  ...Object.entries(reads.cold ?? {}).map(([c, r]) => row(`${c}, one call every ${reads.coldGapMs} ms to an idle agent, p50 (us)`, r.phoenix, 'info', r.qemu, null)),
  row(`a ${bigreq.phoenix.requestMB.toFixed(0)} MB request: peak anon growth / request size`, bigreq.phoenix.ratio, '<= 1.2', bigreq.qemu?.ratio ?? null, bigreq.phoenix.ratio <= 1.2),
  row(`a ${bigreq.phoenix.requestMB.toFixed(0)} MB request: memory back after the reply (s)`, bigreq.phoenix.backMs === null ? NaN : bigreq.phoenix.backMs / 1000, '<= 10', bigreq.qemu?.backMs == null ? null : bigreq.qemu.backMs / 1000, bigreq.phoenix.backMs !== null && bigreq.phoenix.backMs <= 10_000),
  row('bundle, supervisor (KB)', size('supervisor.js'), '<= 34', null, size('supervisor.js') <= 34),
  row('bundle, worker (KB)', size('agent.js'), '<= 200', null, size('agent.js') <= 200),
  row('bundle, rare commands loaded at first use (KB)', size('agent-rare.js'), 'info', null, null),
  row('heartbeat receiver, verified/s per CPU-second', collector.perCpuSecond, '>= 20000', null, collector.perCpuSecond >= 20000),
];

const f = (v) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
const ratio = (r) => (typeof r.phoenix === 'number' && typeof r.qemu === 'number' && r.qemu > 0 ? (r.phoenix / r.qemu).toFixed(2) : '-');
const lines = [
  `phoenix-ga vs ${core.qemuGa ?? 'qemu-ga (not installed)'}, node ${core.node}${core16 ? ` and ${core16.node}` : ''}, ${new Date().toISOString().slice(0, 10)}; medians of ${core.runs} runs, ${core.kills} kills, ${core.idleSeconds} s idle; every phoenix-ga run directory holds a full default statistics history (720 samples); load average ${loadBefore} before, ${loadAfter} after`,
  '',
  '| figure | phoenix-ga | target | qemu-ga | ratio | |',
  '|---|---:|---|---:|---:|---|',
  ...rows.map((r) => `| ${r.name.trim()} | ${f(r.phoenix)} | ${r.target} | ${f(r.qemu)} | ${ratio(r)} | ${r.ok === null ? '' : r.ok ? 'ok' : '**MISS**'} |`),
];
console.log(lines.join('\n'));
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'bench.json'), JSON.stringify({ date: new Date().toISOString(), qemuGa: core.qemuGa, node: core.node, node16: core16?.node ?? null, loadAverage: { before: loadBefore, after: loadAfter }, rows, core: core.raw, core16: core16?.raw ?? null, qemuGaHungOnTerm: (core.hungOnTerm?.['qemu-ga'] ?? 0) + (core16?.hungOnTerm?.['qemu-ga'] ?? 0), history, serial, reads, bigreq, collector, vmIdle }, null, 1) + '\n');
writeFileSync(join(OUT, 'bench.svg'), chart(rows));
writeFileSync(join(OUT, 'bench.md'), `# Benchmark: phoenix-ga beside qemu-ga\n\nWritten by \`sudo node bench/run.mjs\` (see the README). ![chart](bench.svg)\n\n${lines.join('\n')}\n`);
say(`wrote ${join(OUT, 'bench.json')}, bench.md and bench.svg`);

/** Rows of vm-idle.mjs: phoenix-ga's processes beside qemu-ga's one, on virtio-serial ports in a VM. */
function vmRows(v) {
  const [first, later] = v.gone;
  const wake = (w, p) => w.procs[p].wakeupsPerS;
  const max = (rs) => Math.max(...rs.map((r) => r.replyMs));
  const median = (rs) => { const v = rs.map((r) => r.replyMs).sort((a, b) => a - b); return v.length ? v[v.length >> 1] : null; };
  const long = v.replies.phoenixLongGone;
  return [
    row('VM virtio, host gone 1st minute: worker wakeups/s', wake(first, 'worker'), 'info', wake(first, 'qemu-ga'), null),
    row('VM virtio, host gone > 1 min: worker wakeups/s', wake(later, 'worker'), '<= 0.2', wake(later, 'qemu-ga'), wake(later, 'worker') <= 0.2),
    row('VM virtio, host gone > 1 min: supervisor wakeups/s', wake(later, 'supervisor'), '<= 0.2', null, wake(later, 'supervisor') <= 0.2),
    row('VM virtio, idle host connected: worker wakeups/s', wake(v.connected, 'worker'), '<= 0.2', wake(v.connected, 'qemu-ga'), wake(v.connected, 'worker') <= 0.2),
    row('VM virtio, idle host connected: supervisor wakeups/s', wake(v.connected, 'supervisor'), '<= 0.2', null, wake(v.connected, 'supervisor') <= 0.2),
    row('VM virtio, host connect -> first reply, host gone seconds, median (ms)', median(v.replies.phoenix), "<= qemu-ga's", median(v.replies.qemuGa), median(v.replies.phoenix) <= median(v.replies.qemuGa)),
    row('VM virtio, host connect -> first reply, host gone seconds, max (ms)', max(v.replies.phoenix), '< 3000', max(v.replies.qemuGa), max(v.replies.phoenix) < 3000),
    row('VM virtio, host connect -> first reply, host gone > 1 min (ms)', long?.replyMs ?? null, '< 3000', null, long ? long.replyMs < 3000 : null),
  ];
}

/** Two panels of horizontal bars, phoenix-ga beside qemu-ga: memory (MiB) and reply time (us). */
function chart(all) {
  const pick = (name) => all.find((r) => r.name.trim() === `${name} (Node 20)`) ?? all.find((r) => r.name.trim() === name);
  const mem = [
    ['supervisor, idle', pick('anon memory, supervisor idle (MiB)')],
    ['worker, idle', pick('anon memory, worker idle (MiB)')],
    ['pair, idle', pick('anon memory, pair idle (MiB)')],
    ['pair, 5 s after start', pick('anon memory, pair 5 s after start (MiB)')],
    ['pair, burst peak', pick('anon memory, pair at the peak of a 68k-request burst (MiB)')],
    ['pair, right after burst', pick('anon memory, pair right after the burst (MiB)')],
    ['growth, 100k req', pick('anon growth, worker, 10 s after 100k requests (MiB)')],
  ];
  const lat = [
    ['guest-ping p50', pick('guest-ping p50 (us)')],
    ['guest-ping p99', pick('guest-ping p99 (us)')],
    ...['guest-info', 'guest-get-osinfo', 'guest-get-host-name', 'guest-network-get-interfaces', 'guest-get-fsinfo'].map((c) => [c, pick(`${c} p50 (us)`)]),
  ];
  const W = 900, panelW = 420, barH = 12, gap = 10, labelW = 150;
  const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const panel = (x0, title, unit, items) => {
    const max = Math.max(...items.flatMap(([, r]) => [r?.phoenix ?? 0, r?.qemu ?? 0])) || 1;
    const scale = (panelW - labelW - 60) / max;
    let y = 50;
    let s = `<text x="${x0}" y="30" font-weight="bold">${esc(title)} (${unit})</text>`;
    for (const [label, r] of items) {
      s += `<text x="${x0}" y="${y + barH + 3}" font-size="11">${esc(label)}</text>`;
      for (const [v, color] of [[r?.phoenix, '#d9480f'], [r?.qemu, '#1c7ed6']]) {
        const w = typeof v === 'number' ? Math.max(1, v * scale) : 0;
        s += `<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color}"/>`;
        s += `<text x="${x0 + labelW + w + 4}" y="${y + barH - 2}" font-size="10">${typeof v === 'number' ? f(v) : '-'}</text>`;
        y += barH + 1;
      }
      y += gap;
    }
    return { s, y };
  };
  const a = panel(10, 'anon memory, Pss_Anon', 'MiB', mem);
  const b = panel(470, 'reply time on a unix socket', 'µs', lat);
  const H = Math.max(a.y, b.y) + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
${a.s}
${b.s}
<rect x="10" y="${H - 20}" width="12" height="10" fill="#d9480f"/><text x="26" y="${H - 11}" font-size="11">phoenix-ga (supervisor + worker where the figure is for the pair)</text>
<rect x="470" y="${H - 20}" width="12" height="10" fill="#1c7ed6"/><text x="486" y="${H - 11}" font-size="11">${esc(core.qemuGa ?? 'qemu-ga')}, same run</text>
</svg>
`;
}
