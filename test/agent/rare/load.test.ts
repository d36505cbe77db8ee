// The rare commands' code in dist/agent-rare.js, loaded at first use: an error thrown there reaches
// the wire as the same qemu-ga error (one QgaError class in both bundles), the file is taken beside
// the running agent.js even after `current` is switched, and a missing, corrupt or foreign file
// fails that command only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, startAgent, tempDir } from '../../helpers/agent';
import { QgaClient } from '../../helpers/qga-client';

const S = suite('rare commands');
const BUNDLES = ['supervisor.js', 'agent.js', 'agent-rare.js', 'ctl.js'];

/** A version directory with the built bundles; EDIT changes it after the copy. */
function versionDir(dir: string, edit: (d: string) => void = () => undefined): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of BUNDLES) fs.copyFileSync(path.join(ROOT, 'dist', f), path.join(dir, f));
  edit(dir);
  return dir;
}

async function withAgent(supervisor: string, f: (c: QgaClient, pid: number) => Promise<void>): Promise<void> {
  const agent = startAgent({ supervisor });
  try {
    const pid = await agent.waitReady(10_000);
    const c = await QgaClient.connect(agent.sock);
    try { await f(c, pid); } finally { c.close(); }
    assert.is(agent.workerPid(), pid, 'the same worker served throughout');
  } finally {
    await agent.stop();
  }
}

S('an error thrown in a rare command has the qemu-ga class and text it had in the main bundle', async () => {
  await withAgent(path.join(ROOT, 'dist/supervisor.js'), async (c) => {
    // Thrown by `new QgaError` in agent/grow/mount-source.ts, inside agent-rare.js.
    assert.equal((await c.request('phoenix-grow-filesystem', { mountpoint: '/proc' })).error,
      { class: 'GenericError', desc: "'/proc' is a proc file system (source 'proc'), not one on a block device: there is no disk to grow it from" });
    assert.ok(Array.isArray((await c.request('phoenix-get-host-keys')).return.keys));
  });
});

const broken: Array<[string, (d: string) => void, RegExp]> = [
  ['missing', (d) => fs.rmSync(path.join(d, 'agent-rare.js')), /^this command's code could not be loaded from \/.*\/agent-rare\.js: Cannot find module/],
  ['corrupt', (d) => fs.writeFileSync(path.join(d, 'agent-rare.js'), fs.readFileSync(path.join(d, 'agent-rare.js'), 'latin1').slice(0, 5000), 'latin1'), /^this command's code could not be loaded from \/.*\/agent-rare\.js: /],
  ['of another version', (d) => fs.writeFileSync(path.join(d, 'agent-rare.js'), 'module.exports = () => ({ version: "9.9.9" });\n'), /^this command's code in \/.*\/agent-rare\.js is version 9\.9\.9, the agent /],
];
for (const [what, edit, desc] of broken) {
  S(`a ${what} agent-rare.js fails the rare commands with the reason, and the agent keeps serving`, async () => {
    const dir = versionDir(path.join(tempDir(), 'v'), edit);
    await withAgent(path.join(dir, 'supervisor.js'), async (c) => {
      for (const cmd of ['phoenix-get-host-keys', 'phoenix-capabilities']) {
        const r = await c.request(cmd);
        assert.is(r.error?.class, 'GenericError', JSON.stringify(r));
        assert.match(r.error.desc, desc);
      }
      assert.equal(await c.request('guest-ping'), { return: {} });
      assert.ok((await c.request('guest-info')).return.supported_commands.some((x: { name: string }) => x.name === 'phoenix-get-host-keys'));
    });
  });
}

S('the worker loads agent-rare.js of its own version after `current` is switched to another', async () => {
  const lib = tempDir();
  versionDir(path.join(lib, '1'));
  versionDir(path.join(lib, '2'), (d) => fs.writeFileSync(path.join(d, 'agent-rare.js'), 'module.exports = () => ({ version: "2.0.0" });\n'));
  fs.symlinkSync('1', path.join(lib, 'current'));
  await withAgent(path.join(lib, 'current/supervisor.js'), async (c) => {
    fs.unlinkSync(path.join(lib, 'current'));
    fs.symlinkSync('2', path.join(lib, 'current'));
    assert.ok(Array.isArray((await c.request('phoenix-get-host-keys')).return?.keys), 'version 1 answered');
  });
});

S.run();
