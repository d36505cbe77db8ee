// The benchmark in one command: builds phoenix-ga, installs Debian's qemu-guest-agent when it is
// missing (as root), runs core.mjs, reads.mjs and collector.mjs, and prints one table with each
// figure beside its performance target (MISS where it is not reached). Writes the same as
// JSON and an SVG chart of memory and latency against qemu-ga (OUT/bench.json, OUT/bench.svg).
// Usage: sudo node bench/run.mjs [--runs 5] [--kills 50] [--idle 60] [--out docs] [--no-build]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  const json = join(tmp, `${script}.json`);
  sh(process.execPath, [join(root, 'bench', script), ...args, '--json', json], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  return JSON.parse(readFileSync(json, 'utf8'));
}
const core = part('core.mjs', pass(['runs', 'kills', 'idle', 'settle']));
const reads = part('reads.mjs', []);
const collector = part('collector.mjs', []);

const size = (f) => statSync(join(root, 'dist', f)).size / 1000;
const rows = [
  ...core.rows,
  { name: 'one statistics sample: processes spawned', phoenix: reads.sample.spawned, target: '0', qemu: null, ok: reads.sample.spawned === 0 },
  { name: 'one statistics sample: CPU (ms)', phoenix: reads.sample.cpuUs / 1000, target: '<= 2', qemu: null, ok: reads.sample.cpuUs <= 2000 },
  { name: 'bundle, supervisor (KB)', phoenix: size('supervisor.js'), target: '<= 30', qemu: null, ok: size('supervisor.js') <= 30 },
  { name: 'bundle, worker (KB)', phoenix: size('agent.js'), target: '<= 200', qemu: null, ok: size('agent.js') <= 200 },
  { name: 'heartbeat receiver, verified/s per CPU-second', phoenix: collector.perCpuSecond, target: '>= 20000', qemu: null, ok: collector.perCpuSecond >= 20000 },
  ...['guest-info', 'guest-get-osinfo', 'guest-network-get-interfaces', 'guest-get-fsinfo'].map((c) => ({
    name: `${c} p50 (us)`, phoenix: reads.commands[c].phoenix?.p50 ?? null, target: 'info', qemu: reads.commands[c].qemu?.p50 ?? null, ok: null,
  })),
];

const f = (v) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
const ratio = (r) => (typeof r.phoenix === 'number' && typeof r.qemu === 'number' && r.qemu > 0 ? (r.phoenix / r.qemu).toFixed(2) : '-');
const lines = [
  `phoenix-ga vs ${core.qemuGa ?? 'qemu-ga (not installed)'}, node ${core.node}, ${new Date().toISOString().slice(0, 10)}; medians of ${core.runs} runs, ${core.kills} kills, ${core.idleSeconds} s idle`,
  '',
  '| figure | phoenix-ga | target | qemu-ga | ratio | |',
  '|---|---:|---|---:|---:|---|',
  ...rows.map((r) => `| ${r.name.trim()} | ${f(r.phoenix)} | ${r.target} | ${f(r.qemu)} | ${ratio(r)} | ${r.ok === null ? '' : r.ok ? 'ok' : '**MISS**'} |`),
];
console.log(lines.join('\n'));
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'bench.json'), JSON.stringify({ date: new Date().toISOString(), qemuGa: core.qemuGa, node: core.node, rows, core: core.raw, qemuGaHungOnTerm: core.hungOnTerm?.['qemu-ga'] ?? 0, reads, collector }, null, 1) + '\n');
writeFileSync(join(OUT, 'bench.svg'), chart(rows));
writeFileSync(join(OUT, 'bench.md'), `# Benchmark: phoenix-ga beside qemu-ga\n\nWritten by \`sudo node bench/run.mjs\` (see the README). ![chart](bench.svg)\n\n${lines.join('\n')}\n`);
say(`wrote ${join(OUT, 'bench.json')}, bench.md and bench.svg`);

/** Two panels of horizontal bars, phoenix-ga beside qemu-ga: memory (MiB) and reply time (us). */
function chart(all) {
  const pick = (name) => all.find((r) => r.name.trim() === name);
  const mem = [
    ['supervisor', pick('anon memory, supervisor idle (MiB)')],
    ['worker', pick('anon memory, worker idle (MiB)')],
    ['pair', pick('anon memory, pair idle (MiB)')],
    ['growth, 100k req', pick('anon growth, worker, after 100k requests (MiB)')],
  ];
  const lat = [
    ['guest-ping p50', pick('guest-ping p50 (us)')],
    ['guest-ping p99', pick('guest-ping p99 (us)')],
    ...['guest-info', 'guest-get-osinfo', 'guest-network-get-interfaces', 'guest-get-fsinfo'].map((c) => [c, pick(`${c} p50 (us)`)]),
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
