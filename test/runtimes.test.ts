// The built agent's core on the runtimes the packages bring and the current LTS, each the official
// binary from the npm registry (build/runtime.mjs caches them): Node 16 (glibc 2.17, the tarball),
// Node 20 (the .deb) and Node 26 (the current LTS). The host's Node 20 runs every other test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'child_process';
import * as path from 'path';
import { ROOT, startAgent, tempDir, waitFor } from './helpers/agent';
import { QgaClient } from './helpers/qga-client';
import { startReceiver } from './helpers/receiver';

for (const version of ['16.20.2', '20.20.2', '26.12.1']) {
  const S = suite(`Node ${version}`);
  S(`Node ${version}: protocol, commands, heartbeat, worker restart, statistics`, async () => {
    const node = execFileSync(process.execPath, [path.join(ROOT, 'build/runtime.mjs'), version], { encoding: 'utf8' }).trim();
    const dir = tempDir();
    const r = await startReceiver(dir);
    const agent = startAgent({ dir, node, interval: 0.2, hangTimeout: 5, heartbeatPort: r.port, keyFile: r.keyFile, args: ['--state-dir', `${dir}/state`] });
    try {
      const pid = await agent.waitReady(10_000);
      const c = await QgaClient.connect(agent.sock);
      c.write('{"execute":"guest-sync-delimited","arguments":{"id":9007199254740993}}');
      assert.is(await c.nextLine(), '\xff{"return":9007199254740993}');
      c.write(Buffer.concat([Buffer.from('{"execute":"gu'), Buffer.from([0xff]), Buffer.from('{"execute":"guest-ping","id":1}')]));
      assert.match((await c.next()).error.desc, /stray/);
      assert.equal(await c.next(), { return: {}, id: 1 });
      assert.ok((await c.request('guest-info')).return.supported_commands.length > 30);
      assert.is((await c.request('guest-get-osinfo')).return.machine, 'x86_64');
      assert.ok((await c.request('guest-network-get-interfaces')).return.some((i: { name: string }) => i.name === 'lo'));
      // Its code is in agent-rare.js, loaded at this first call.
      assert.ok(Array.isArray((await c.request('phoenix-get-host-keys')).return?.keys));
      await c.request('phoenix-set-stats', { interval: 1 });
      const stats = await waitFor('a sample', async () => { const s = (await c.request('phoenix-get-stats')).return; return s.samples.length > 0 && s; }, 10_000, 300);
      // Node 16 has no fs.statfs: one `stat -f` per file system, said so in the reply (how many
      // depends on the machine's mounts at that moment); newer runtimes spawn nothing.
      if (version.startsWith('16.')) assert.ok(stats.cost.spawned >= 1, `spawned ${stats.cost.spawned}`);
      else assert.is(stats.cost.spawned, 0);
      assert.ok(stats.samples.at(-1).filesystems.find((f: { mountpoint: string }) => f.mountpoint === '/').size_bytes > 0);
      assert.is((await r.waitState('working')).payload.worker.pid, pid);
      process.kill(pid, 'SIGKILL');
      await waitFor('restarted', () => { const s = agent.state(); return s?.worker.state === 'ready' && s.worker.pid !== pid; }, 5000);
      const c2 = await QgaClient.connect(agent.sock);
      assert.equal(await c2.request('guest-ping'), { return: {} });
      // Two worker starts, and no flag the runtime does not know (V8 prints "Error: unrecognized flag").
      assert.not.match(agent.output(), /unrecognized flag|^Error/m, agent.output());
      c.close();
      c2.close();
    } finally {
      const stop = await agent.stop();
      r.close();
      assert.equal(stop, { code: 0, signal: null });
    }
  });
  S.run();
}
