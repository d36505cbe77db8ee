// phoenix-ga-ctl list-ips, diagnose-login and capabilities printed for a person, against the real
// agent in a network namespace with a root tree; guest text (an interface named with an escape
// sequence and a bidi override, /etc/nologin's text) reaches the terminal only escaped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, startAgent, tempDir } from '../helpers/agent';
import { makeNetNs } from '../helpers/netns';
import { makeTree } from '../helpers/root-tree';

const EVIL_IF = 'e\u001b[2Jx';
const EVIL_PEER = 'p\u202ez';

test('list-ips, diagnose-login and capabilities: one readable line each, guest text escaped', async () => {
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const ns = makeNetNs();
  const tree = makeTree();
  tree.write('/etc/nologin', 'back soon \u001b]0;pwned\u0007\u001b[2J\u009b31m\nsecond line\n');
  tree.write('/bin/bash', '#!/bin/true\n', 0o755);
  const dir = tempDir();
  const agent = startAgent({ dir, interval: 0.5, hangTimeout: 30, wrap: ['ip', 'netns', 'exec', ns.name], args: ['--os-root', tree.root, '--block-rpcs', 'guest-fstrim'] });
  try {
    ns.ip('addr', 'add', '203.0.113.10/24', 'dev', 'eth0');
    ns.ip('route', 'add', 'default', 'via', '203.0.113.1');
    ns.ip('link', 'add', EVIL_IF, 'type', 'veth', 'peer', 'name', EVIL_PEER);
    ns.ip('addr', 'add', '10.66.0.1/24', 'dev', EVIL_IF);
    await agent.waitReady();
    const ctl = (...args: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'dist/phoenix-ga-ctl.js'), '--socket', agent.sock, ...args], { encoding: 'utf8' });
    const noRaw = (out: string) => assert.not.match(out, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/, 'no raw control or bidi character');

    const ips = ctl('list-ips');
    assert.is(ips.status, 0, ips.stderr);
    noRaw(ips.stdout);
    const lines = ips.stdout.trimEnd().split('\n');
    assert.ok(lines.includes('eth0 (veth) primary 203.0.113.10/24; live 203.0.113.10/24; not persisted'), ips.stdout);
    assert.ok(lines.includes('e\\x1b[2Jx (veth) live 10.66.0.1/24; not persisted'), ips.stdout);

    const d = ctl('diagnose-login', 'alice');
    assert.is(d.status, 0, d.stderr);
    noRaw(d.stdout);
    const out = d.stdout.split('\n');
    assert.match(out[0], /^login of 'alice': \d+ problems?$/);
    // Problems first, each with its evidence indented below.
    assert.match(out[1], /^ {2}PROBLEM {5}\S+: /);
    const at = out.findIndex((l) => l.startsWith('  PROBLEM     nologin: /etc/nologin exists'));
    assert.ok(at > 0, d.stdout);
    assert.is(out[at + 1], "              /etc/nologin: 'back soon \\x1b]0;pwned\\x07\\x1b[2J\\x9b31m'");
    assert.ok(out.some((l) => /^ {2}OK {10}account: 'alice' exists$/.test(l)), d.stdout);
    assert.match(ctl('diagnose-login').stderr, /diagnose-login needs a user name/);

    const c = ctl('capabilities');
    assert.is(c.status, 0, c.stderr);
    const cl = c.stdout.trimEnd().split('\n');
    assert.match(cl[0], /^\d+ of \d+ commands work here; root writable, file systems thawed, journal ok$/);
    assert.is(cl[1], 'not working:');
    assert.ok(cl.some((l) => /^ {2}guest-fstrim +config: disabled by the configuration: listed in block-rpcs$/.test(l)), c.stdout);
    const json = JSON.parse(ctl('--json', 'capabilities').stdout);
    assert.is(json.commands.find((x: { name: string }) => x.name === 'guest-fstrim').enabled, false);
  } finally {
    await agent.stop();
    ns.remove();
  }
});

test.run();
