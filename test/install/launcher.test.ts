// The launcher (/usr/sbin/phoenix-ga, init/phoenix-ga.sh) as every init style runs it: the
// supervisor gets a minimal explicit environment, whatever the init or the shell had, with the
// malloc settings the agent's processes run with. The runtime is stood in for by a script that
// prints its environment and arguments: the launcher's own text is what is checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from '../helpers/agent';
import { scratchDir } from '../helpers/versions';

test('the supervisor gets PATH, LANG, the malloc settings and its launcher, nothing inherited', () => {
  const t = scratchDir('launcher-');
  const lib = path.join(t, 'lib', 'current');
  fs.mkdirSync(lib, { recursive: true });
  fs.writeFileSync(path.join(lib, 'node'), '#!/bin/sh\nenv\necho "args: $*"\n', { mode: 0o755 });
  const launcher = path.join(t, 'phoenix-ga');
  fs.writeFileSync(launcher, fs.readFileSync(path.join(ROOT, 'init/phoenix-ga.sh'), 'utf8').replace('@LIB@', lib), { mode: 0o755 });
  const r = spawnSync(launcher, ['status'], {
    encoding: 'utf8',
    env: { PATH: '/usr/bin:/bin', NODE_OPTIONS: '--inspect', NODE_EXTRA_CA_CERTS: '/x', LD_PRELOAD: '/x.so', MALLOC_ARENA_MAX: '8', HOME: '/root' },
  });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.pop(), `args: ${path.join(lib, 'supervisor.js')} status`);
  // The stand-in shell adds PWD (and may add SHLVL, OLDPWD or _) of its own: those are not inherited.
  const env = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]).filter(([k]) => k !== 'PWD' && k !== 'SHLVL' && k !== 'OLDPWD' && k !== '_'));
  assert.equal(env, {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C',
    MALLOC_ARENA_MAX: '1',
    MALLOC_MMAP_THRESHOLD_: '131072',
    PHOENIX_GA_LAUNCHER: launcher,
  });
});

test.run();
