// The installer on system trees laid out as each init system's distributions lay them out, run
// from the build tree as the automation runs it (dist/phoenix-ga install --root DIR).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';

const CLI = path.join(ROOT, 'dist/phoenix-ga');
const run = (...args: string[]) => spawnSync(CLI, args, { encoding: 'utf8' });

function tree(kind: 'systemd' | 'sysvinit' | 'upstart' | 'unknown' | 'conflict'): string {
  // Removed at exit: an installed tree holds a copy of the runtime.
  const r = scratchDir(`tree-${kind}-`);
  const w = (p: string, text: string, mode = 0o644) => { fs.mkdirSync(path.dirname(path.join(r, p)), { recursive: true }); fs.writeFileSync(path.join(r, p), text, { mode }); };
  fs.mkdirSync(path.join(r, 'usr/sbin'), { recursive: true });
  fs.mkdirSync(path.join(r, 'etc'), { recursive: true });
  fs.symlinkSync('usr/sbin', path.join(r, 'sbin')); // merged /usr, as Debian 12
  if (kind === 'systemd') { w('/lib/systemd/systemd', 'ELF systemd'); fs.symlinkSync('/lib/systemd/systemd', path.join(r, 'usr/sbin/init')); fs.mkdirSync(path.join(r, 'etc/systemd/system'), { recursive: true }); }
  if (kind === 'sysvinit' || kind === 'conflict') { w('/usr/sbin/init', 'ELF No inittab file found', 0o755); w('/etc/inittab', 'id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\n1:2345:respawn:/sbin/getty 38400 tty1\n# customer line\nXY:2345:respawn:/usr/local/bin/mine\n'); }
  if (kind === 'upstart' || kind === 'conflict') { w('/usr/sbin/initctl', 'ELF', 0o755); fs.mkdirSync(path.join(r, 'etc/init'), { recursive: true }); }
  if (kind === 'upstart') w('/usr/sbin/init', 'ELF upstart 1.12.1', 0o755);
  if (kind === 'unknown') w('/usr/sbin/init', 'ELF busybox', 0o755);
  return r;
}

/** Every path in the tree with its type, mode and content hash: "the tree is as before". */
function snapshot(r: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      const rel = path.relative(r, p);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${fs.readlinkSync(p)}`);
      else if (st.isDirectory()) { out.push(`${rel}/ ${(st.mode & 0o7777).toString(8)}`); walk(p); }
      else out.push(`${rel} ${(st.mode & 0o7777).toString(8)} ${crypto.createHash('sha1').update(fs.readFileSync(p)).digest('hex')}`);
    }
  };
  walk(r);
  return out;
}

test('systemd: runtime, bundles, launcher, config 0600, unit and the wants link; a second run changes nothing', () => {
  const r = tree('systemd');
  const first = run('install', '--root', r);
  assert.is(first.status, 0, first.stderr);
  assert.match(first.stdout, /installed into .* for systemd \(\/sbin\/init -> \/lib\/systemd\/systemd\)/);
  assert.is(fs.readlinkSync(path.join(r, 'etc/systemd/system/multi-user.target.wants/phoenix-ga.service')), '/etc/systemd/system/phoenix-ga.service');
  assert.is(fs.readFileSync(path.join(r, 'etc/systemd/system/phoenix-ga.service'), 'utf8'), fs.readFileSync(path.join(ROOT, 'init/systemd/phoenix-ga.service'), 'utf8'));
  assert.is(fs.statSync(path.join(r, 'etc/phoenix-ga/phoenix-ga.conf')).mode & 0o777, 0o600);
  assert.is(fs.statSync(path.join(r, 'usr/sbin/phoenix-ga')).mode & 0o777, 0o755);
  assert.ok(fs.existsSync(path.join(r, 'usr/lib/phoenix-ga/current/node')));
  const before = snapshot(r);
  const second = run('install', '--root', r);
  assert.match(second.stdout, /already installed, nothing changed/);
  assert.equal(snapshot(r), before);
});

test('the unit is the seed\'s, plus only the commented additions', () => {
  const unit = fs.readFileSync(path.join(ROOT, 'init/systemd/phoenix-ga.service'), 'utf8');
  const seed = ['[Unit]', 'Description=Phoenix Guest Agent', 'After=systemd-udevd.service', '[Service]', 'Restart=always', 'RestartSec=0.5', 'ExecStart=/usr/sbin/phoenix-ga', 'StandardOutput=null', '[Install]', 'WantedBy=multi-user.target'];
  const lines = unit.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  for (const l of seed) assert.ok(lines.includes(l), `seed line ${l}`);
  const added = lines.filter((l) => !seed.includes(l));
  assert.equal(added, ['StartLimitIntervalSec=0', 'StartLimitInterval=0', 'OOMPolicy=continue', 'OOMScoreAdjust=-900', 'KillMode=mixed', 'TimeoutStopSec=15']);
  // Each added line belongs to a group of added lines under a comment.
  const all = unit.split('\n');
  for (const a of added) {
    let i = all.indexOf(a) - 1;
    while (i >= 0 && added.includes(all[i])) i--;
    assert.ok(all[i].startsWith('#'), `${a} has a comment above it`);
  }
});

test('sysvinit: the #-- PGA block exactly as the product page shows it, never twice; uninstall leaves the customer\'s lines', () => {
  const r = tree('sysvinit');
  const original = fs.readFileSync(path.join(r, 'etc/inittab'), 'utf8');
  assert.is(run('install', '--root', r).status, 0);
  const once = fs.readFileSync(path.join(r, 'etc/inittab'), 'utf8');
  assert.is(once, original + '#-- PGA begin\nPGA:2345:respawn:/usr/sbin/phoenix-ga\n#-- PGA end\n');
  run('install', '--root', r);
  run('install', '--root', r, '--init', 'sysvinit');
  assert.is(fs.readFileSync(path.join(r, 'etc/inittab'), 'utf8'), once, 'no second block');
  const u = run('uninstall', '--root', r);
  assert.is(u.status, 0, u.stderr);
  assert.is(fs.readFileSync(path.join(r, 'etc/inittab'), 'utf8'), original);
});

test('upstart: /etc/init/phoenix-ga.conf, which passes the static check', () => {
  const r = tree('upstart');
  const out = run('install', '--root', r);
  assert.is(out.status, 0, out.stderr);
  const job = fs.readFileSync(path.join(r, 'etc/init/phoenix-ga.conf'), 'utf8');
  for (const l of ['start on runlevel [2345]', 'stop on shutdown', 'respawn', 'exec /usr/sbin/phoenix-ga']) assert.ok(job.split('\n').includes(l), l);
  const lint = spawnSync(process.execPath, [path.join(ROOT, 'test/install/upstart-lint.mjs'), path.join(r, 'etc/init/phoenix-ga.conf'), '--expect-exec', '/usr/sbin/phoenix-ga'], { encoding: 'utf8' });
  assert.is(lint.status, 0, lint.stdout + lint.stderr);
});

test('unfamiliar or contradictory layouts are refused with exit 4 and nothing written', () => {
  for (const kind of ['unknown', 'conflict'] as const) {
    const r = tree(kind);
    const before = snapshot(r);
    const out = run('install', '--root', r);
    assert.is(out.status, 4, `${kind}: ${out.stdout}${out.stderr}`);
    assert.match(out.stderr, /refused, nothing written/);
    assert.equal(snapshot(r), before, kind);
  }
  const empty = scratchDir('empty-');
  assert.is(run('install', '--root', empty).status, 4);
  assert.equal(fs.readdirSync(empty), []);
});

test('uninstall removes exactly what install added: the tree is as before', () => {
  for (const kind of ['systemd', 'sysvinit', 'upstart'] as const) {
    const r = tree(kind);
    const before = snapshot(r);
    assert.is(run('install', '--root', r).status, 0);
    const u = run('uninstall', '--root', r);
    assert.is(u.status, 0, u.stderr);
    assert.equal(snapshot(r), before, kind);
  }
});

test('an upgrade keeps the operator\'s config and key; a changed config survives uninstall', () => {
  const r = tree('systemd');
  run('install', '--root', r);
  fs.appendFileSync(path.join(r, 'etc/phoenix-ga/phoenix-ga.conf'), 'heartbeat = 10.0.0.1:7070\n');
  fs.writeFileSync(path.join(r, 'etc/phoenix-ga/heartbeat.key'), 'k1 ' + '00'.repeat(32) + '\n', { mode: 0o600 });
  const cfg = fs.readFileSync(path.join(r, 'etc/phoenix-ga/phoenix-ga.conf'), 'utf8');
  run('install', '--root', r);
  assert.is(fs.readFileSync(path.join(r, 'etc/phoenix-ga/phoenix-ga.conf'), 'utf8'), cfg);
  assert.ok(fs.existsSync(path.join(r, 'etc/phoenix-ga/heartbeat.key')));
  const u = run('uninstall', '--root', r);
  assert.match(u.stdout, /kept \/etc\/phoenix-ga\/phoenix-ga.conf \(changed since installed\)/);
  assert.ok(fs.existsSync(path.join(r, 'etc/phoenix-ga/heartbeat.key')));
});

test('an interrupted install leaves the old state or the new one, never a mix', async () => {
  const r = tree('systemd');
  const expect = ['node', 'supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js'].map((f) => [f, crypto.createHash('sha1').update(fs.readFileSync(f === 'node' ? process.execPath : path.join(ROOT, 'dist', f))).digest('hex')]);
  for (let i = 0; i < 12; i++) {
    if (i % 3 === 0) run('uninstall', '--root', r);
    const p = spawn(CLI, ['install', '--root', r], { stdio: 'ignore' });
    const exited = new Promise((res) => p.on('exit', res));
    await new Promise((res) => setTimeout(res, 20 + crypto.randomInt(250)));
    p.kill('SIGKILL');
    await exited;
    // Whatever `current` points at is complete; nothing half-written is visible under a real name.
    const cur = path.join(r, 'usr/lib/phoenix-ga/current');
    if (fs.existsSync(cur)) for (const [f, h] of expect) assert.is(crypto.createHash('sha1').update(fs.readFileSync(path.join(cur, f))).digest('hex'), h, `${f} after a kill`);
    const unit = path.join(r, 'etc/systemd/system/phoenix-ga.service');
    if (fs.existsSync(unit)) assert.is(fs.readFileSync(unit, 'utf8'), fs.readFileSync(path.join(ROOT, 'init/systemd/phoenix-ga.service'), 'utf8'));
  }
  assert.is(run('install', '--root', r).status, 0);
  const left = snapshot(r).filter((l) => l.includes('.phoenix-new'));
  assert.equal(left.filter((l) => !l.includes('usr/lib/phoenix-ga')), [], 'no stray temporary files outside the version directory');
});

test('symlinks in the image point inside it: an absolute /usr/sbin link never reaches the host', () => {
  const r = tree('systemd');
  fs.rmSync(path.join(r, 'sbin'));
  fs.symlinkSync('/usr/sbin', path.join(r, 'sbin')); // absolute, as some images have it
  fs.mkdirSync(path.join(r, 'usr/local'), { recursive: true });
  assert.is(run('install', '--root', r).status, 0);
  assert.ok(fs.existsSync(path.join(r, 'usr/sbin/phoenix-ga')));
  fs.rmSync(path.join(r, 'usr/sbin/phoenix-ga'));
  fs.symlinkSync('/etc/shadow', path.join(r, 'usr/sbin/phoenix-ga'));
  const out = run('install', '--root', r);
  assert.is(out.status, 1);
  assert.match(out.stderr, /\/usr\/sbin\/phoenix-ga is a symbolic link; refusing to write through it/);
});

test.run();
