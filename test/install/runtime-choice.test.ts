// The tarball's two runtimes: Node 20 is installed where the target's own libraries have what it
// needs, Node 16 where they do not; the tarball's launcher runs on Node 16 where Node 20 cannot
// start. No system with glibc older than 2.28 runs here, so an old glibc is stood in for by this
// machine's own libc with its GLIBC_2.28 version definition renamed (the installer reads version
// definitions, as the dynamic loader does), and a Node that cannot start by a script that fails
// as the loader does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { chooseRuntime, RuntimeOffer, unmetNeeds } from '../../supervisor/install/runtime-choice';
import { ROOT } from '../helpers/agent';
import { buildVersion, nodeRuntime, scratchDir } from '../helpers/versions';

const offers = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'build/runtime.mjs'), '--offers'], { encoding: 'utf8' })) as RuntimeOffer[];
const HOST_LIBS = '/usr/lib/x86_64-linux-gnu';
const SONAMES = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'libgcc_s.so.1', 'libstdc++.so.6', 'ld-linux-x86-64.so.2'];

/**
 * A system tree laid out as Debian 12's (merged /usr, /lib64/ld-linux an absolute link) with this
 * machine's libraries; OLD_GLIBC renames libc's GLIBC_2.28 definition; WITHOUT leaves one out.
 */
function libTree(opts: { oldGlibc?: boolean; without?: string } = {}): string {
  const r = scratchDir('rt-tree-');
  const libs = path.join(r, 'usr/lib/x86_64-linux-gnu');
  fs.mkdirSync(libs, { recursive: true });
  fs.symlinkSync('usr/lib', path.join(r, 'lib'));
  fs.mkdirSync(path.join(r, 'lib64'));
  for (const so of SONAMES) {
    if (so === opts.without) continue;
    let bytes = fs.readFileSync(fs.realpathSync(path.join(HOST_LIBS, so)));
    if (so === 'libc.so.6' && opts.oldGlibc) {
      const at = bytes.indexOf('\0GLIBC_2.28\0', 0, 'latin1');
      assert.ok(at > 0, "this machine's libc defines GLIBC_2.28");
      bytes = Buffer.from(bytes);
      bytes.write('\0GLIBC_2.2X\0', at, 'latin1');
    }
    // As distributions ship them: the file under its full name, the soname a relative link.
    fs.writeFileSync(path.join(libs, `${so}.real`), bytes);
    fs.symlinkSync(`${so}.real`, path.join(libs, so));
  }
  fs.symlinkSync(`${HOST_LIBS}/ld-linux-x86-64.so.2`, path.join(r, 'lib64/ld-linux-x86-64.so.2'));
  return r;
}

test('the offers read off the binaries: Node 20 needs glibc 2.28, Node 16 nothing newer than 2.17', () => {
  assert.equal(offers.map((o) => o.file), ['node', 'node-legacy']);
  assert.ok(offers[0].needs['libc.so.6'].includes('GLIBC_2.28'), JSON.stringify(offers[0].needs['libc.so.6']));
  assert.ok(offers[0].needs['libstdc++.so.6'].length > 0);
  const minor = (v: string) => Number(/^GLIBC_2\.(\d+)/.exec(v)?.[1] ?? 0);
  assert.is(Math.max(...offers[1].needs['libc.so.6'].map(minor)), 17);
});

test('a system with glibc 2.28 or newer gets Node 20; one without gets Node 16 and is told why', () => {
  const pkg = scratchDir('rt-pkg-');
  fs.writeFileSync(path.join(pkg, 'runtimes.json'), JSON.stringify(offers));
  const modern = chooseRuntime(libTree(), pkg, process.execPath);
  assert.is(modern.node, path.join(pkg, 'node'));
  assert.match(modern.line!, /runtime: Node 20\.\d+\.\d+$/);
  assert.equal(unmetNeeds(libTree({ oldGlibc: true }), offers[0]), ['libc.so.6 GLIBC_2.28']);
  const old = chooseRuntime(libTree({ oldGlibc: true }), pkg, process.execPath);
  assert.is(old.node, path.join(pkg, 'node-legacy'));
  assert.match(old.line!, /runtime: Node 16\.\d+\.\d+ \(not Node 20\.\d+\.\d+: the system lacks libc\.so\.6 GLIBC_2\.28\)/);
});

test("the target's libraries, not the host's: an absolute link inside the tree stays inside it", () => {
  const pkg = scratchDir('rt-pkg-');
  fs.writeFileSync(path.join(pkg, 'runtimes.json'), JSON.stringify(offers));
  // /lib64/ld-linux-x86-64.so.2 -> /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 exists on the host, not in this tree.
  const tree = libTree({ without: 'ld-linux-x86-64.so.2' });
  assert.equal(unmetNeeds(tree, offers[0]), ['ld-linux-x86-64.so.2 (not found)']);
  const c = chooseRuntime(tree, pkg, process.execPath);
  assert.is(c.node, path.join(pkg, 'node-legacy'));
  assert.match(c.line!, /could not be confirmed/);
  // A libstdc++ too old for Node 20 (its newest GLIBCXX definition renamed) also keeps Node 16.
  const t2 = libTree();
  const so = fs.realpathSync(path.join(t2, 'usr/lib/x86_64-linux-gnu/libstdc++.so.6'));
  const need = offers[0].needs['libstdc++.so.6'].filter((v) => v.startsWith('GLIBCXX_')).sort((a, b) => a.length - b.length || (a < b ? -1 : 1)).pop()!;
  const b = fs.readFileSync(so);
  b.write(`\0${need.replace(/.$/, 'X')}\0`, b.indexOf(`\0${need}\0`, 0, 'latin1'), 'latin1');
  fs.writeFileSync(so, b);
  assert.equal(unmetNeeds(t2, offers[0]), [`libstdc++.so.6 ${need}`]);
});

test('a package with one runtime installs it; no runtimes.json and no node: the running Node', () => {
  const pkg = scratchDir('rt-pkg-');
  assert.equal(chooseRuntime('/', pkg, '/x/node'), { node: '/x/node', line: null });
  fs.writeFileSync(path.join(pkg, 'node'), '');
  assert.equal(chooseRuntime('/', pkg, '/x/node'), { node: path.join(pkg, 'node'), line: null });
  // A runtimes.json that is not a list of offers is as if there were none (the installer does not crash).
  for (const bad of ['{}', '[]', '[null]', '[{"file":"node"}]', 'not json']) {
    fs.writeFileSync(path.join(pkg, 'runtimes.json'), bad);
    assert.equal(chooseRuntime('/', pkg, '/x/node'), { node: path.join(pkg, 'node'), line: null }, bad);
  }
});

test('the tarball layout end to end: install --root puts Node 20 or Node 16 in the tree; the launcher falls back to node-legacy', () => {
  const pkg = buildVersion('9.1.0', nodeRuntime(offers[0].version));
  fs.copyFileSync(nodeRuntime(offers[1].version), path.join(pkg, 'node-legacy'));
  fs.chmodSync(path.join(pkg, 'node-legacy'), 0o755);
  fs.writeFileSync(path.join(pkg, 'runtimes.json'), JSON.stringify(offers));
  const installed = (tree: string) => execFileSync(path.join(tree, 'usr/lib/phoenix-ga/current/node'), ['--version'], { encoding: 'utf8' }).trim();
  for (const [opts, want] of [[{}, offers[0].version], [{ oldGlibc: true }, offers[1].version]] as const) {
    const tree = libTree(opts);
    fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
    const r = spawnSync(path.join(pkg, 'phoenix-ga'), ['install', '--root', tree, '--init', 'sysvinit'], { encoding: 'utf8' });
    assert.is(r.status, 4, 'sysvinit without inittab is refused before anything is written: ' + r.stdout + r.stderr);
    fs.writeFileSync(path.join(tree, 'etc/inittab'), 'id:2:initdefault:\n');
    const ok = spawnSync(path.join(pkg, 'phoenix-ga'), ['install', '--root', tree, '--init', 'sysvinit'], { encoding: 'utf8' });
    assert.is(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, `runtime: Node ${want}`);
    assert.is(installed(tree), `v${want}`);
  }
  // A Node that cannot start here (the loader refuses it): the launcher runs the legacy one.
  fs.writeFileSync(path.join(pkg, 'node'), "#!/bin/sh\necho \"./node: /lib64/libc.so.6: version \\`GLIBC_2.28' not found\" >&2\nexit 1\n", { mode: 0o755 });
  const v = spawnSync(path.join(pkg, 'phoenix-ga'), ['--version'], { encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, /^phoenix-ga 9\.1\.0/);
});

test.run();
