// phoenix-get-host-keys against ssh-keygen itself: each key type's bits, type and SHA256
// fingerprint as `ssh-keygen -lf` prints them, through the real agent on an --os-root tree; and
// what is not a plain public key file (a link, a FIFO, a huge file, garbage) is skipped with the
// reason, never followed, waited on or read whole.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { startAgent, tempDir } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';
import { makeTree } from '../../helpers/root-tree';

test('fingerprints, bits and types are those of ssh-keygen -lf; links, FIFOs, big and garbage files are skipped', async () => {
  const dir = tempDir();
  const tree = makeTree();
  fs.mkdirSync(tree.file('/etc/ssh'));
  const types: Array<[string, string[]]> = [['rsa', ['-t', 'rsa', '-b', '2048']], ['rsa4k', ['-t', 'rsa', '-b', '4096']], ['ecdsa', ['-t', 'ecdsa', '-b', '256']],
    ['ecdsa384', ['-t', 'ecdsa', '-b', '384']], ['ecdsa521', ['-t', 'ecdsa', '-b', '521']], ['ed25519', ['-t', 'ed25519']]];
  for (const [name, opts] of types) execFileSync('ssh-keygen', ['-q', ...opts, '-N', '', '-C', 'root@template', '-f', tree.file(`/etc/ssh/ssh_host_${name}_key`)]);
  // Outside the tree: a link to it must not be followed.
  const outside = `${dir}/secret.pub`;
  fs.copyFileSync(tree.file('/etc/ssh/ssh_host_ed25519_key.pub'), outside);
  fs.symlinkSync(outside, tree.file('/etc/ssh/ssh_host_link_key.pub'));
  execFileSync('mkfifo', [tree.file('/etc/ssh/ssh_host_fifo_key.pub')]);
  fs.writeFileSync(tree.file('/etc/ssh/ssh_host_big_key.pub'), 'ssh-ed25519 ' + 'A'.repeat(20_000) + '\n');
  fs.writeFileSync(tree.file('/etc/ssh/ssh_host_junk_key.pub'), 'not a key\n');
  const agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, args: ['--os-root', tree.root] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    const r = (await c.request('phoenix-get-host-keys', undefined, 5000)).return;
    c.close();
    const want = types.map(([name]) => {
      const file = `/etc/ssh/ssh_host_${name}_key.pub`;
      // "256 SHA256:... root@template (ED25519)"
      const [bits, fingerprint, , type] = execFileSync('ssh-keygen', ['-lf', tree.file(file)], { encoding: 'utf8' }).trim().split(' ');
      return { file, bits: Number(bits), fingerprint, type: type.replace(/[()]/g, '') };
    }).sort((a, b) => (a.file < b.file ? -1 : 1));
    assert.equal(r.keys.map((k: Record<string, unknown>) => ({ file: k.file, bits: k.bits, fingerprint: k.fingerprint, type: k.type })), want);
    assert.equal(r.keys.map((k: { algorithm: string }) => k.algorithm).sort(), ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-ed25519', 'ssh-rsa', 'ssh-rsa']);
    assert.equal(r.skipped, [
      { file: '/etc/ssh/ssh_host_big_key.pub', reason: "20013 bytes, more than a public key's 16384" },
      { file: '/etc/ssh/ssh_host_fifo_key.pub', reason: 'not a regular file' },
      { file: '/etc/ssh/ssh_host_junk_key.pub', reason: "'a' is not a key type (expected one of ssh-ed25519, ssh-rsa, ssh-dss, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ...)" },
      { file: '/etc/ssh/ssh_host_link_key.pub', reason: 'a symbolic link (not followed)' },
    ]);
  } finally {
    await agent.stop();
    fs.rmSync(tree.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no /etc/ssh: no keys, nothing skipped', async () => {
  const dir = tempDir();
  const tree = makeTree();
  const agent = startAgent({ dir, interval: 0.5, hangTimeout: 10, args: ['--os-root', tree.root] });
  try {
    await agent.waitReady();
    const c = await QgaClient.connect(agent.sock);
    assert.equal(await c.request('phoenix-get-host-keys'), { return: { keys: [], skipped: [] } });
    c.close();
  } finally {
    await agent.stop();
    fs.rmSync(tree.root, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
