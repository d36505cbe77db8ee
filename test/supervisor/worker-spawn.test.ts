// How the supervisor starts its worker and keeps its files, checked on the real processes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import { startAgent } from '../helpers/agent';
import { QgaClient } from '../helpers/qga-client';

test('the worker gets a minimal explicit environment and the heap cap, whatever the supervisor inherited', async () => {
  const agent = startAgent({ interval: 0.5, env: { NODE_OPTIONS: '--max-http-header-size=1000', LD_PRELOAD: '', FOO: 'bar' }, args: ['--worker-heap-mb', '48'] });
  try {
    const pid = await agent.waitReady();
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => kv.split('=')[0]).sort();
    // NODE_CHANNEL_* are for the IPC channel: the empty NODE_CHANNEL_FD the supervisor sets (which
    // leaves the channel to the loader), then Node's own.
    assert.equal(env, ['LANG', 'LC_ALL', 'MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'NODE_CHANNEL_FD', 'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'PATH', 'PHOENIX_GA_WORKER']);
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    assert.match(argv, /^phoenix-ga-worker/, 'the worker carries its own title');
    assert.is(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'phoenix-ga-work');
    assert.is(fs.readFileSync(`/proc/${agent.proc.pid}/comm`, 'utf8').trim(), 'phoenix-ga');
    // The heap cap reached V8 (the process title hides the worker's argv).
    const c = await QgaClient.connect(agent.sock);
    const view = (await c.request('phoenix-agent-status')).return;
    c.close();
    assert.ok(view.worker.heap_limit_kb >= 48 * 1024 && view.worker.heap_limit_kb <= 56 * 1024, `heap limit ${view.worker.heap_limit_kb} KiB`);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    assert.is(pgid, pid, 'the worker leads its own process group');
  } finally {
    await agent.stop();
  }
});

test('the run directory is 0700 and the state file 0600, written whole', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    assert.is(fs.statSync(agent.runDir).mode & 0o777, 0o700);
    assert.is(fs.statSync(`${agent.runDir}/state.json`).mode & 0o777, 0o600);
    assert.not.ok(fs.existsSync(`${agent.runDir}/state.json.new`));
    assert.is(JSON.parse(fs.readFileSync(`${agent.runDir}/state.json`, 'utf8')).format, 1);
  } finally {
    await agent.stop();
  }
});

test('a worker line reaches the log once, at the level the worker gave it', async () => {
  const agent = startAgent({ interval: 0.5 });
  try {
    await agent.waitReady();
    // A fresh state directory: the worker writes its code cache 2 s after its start and says so.
    const line = await agent.waitFor('the code-cache line', () => agent.output().split('\n').find((l) => l.includes('code cache written')), 8000);
    assert.match(line, / worker\[\d+\] info: code cache written to /);
    assert.not.match(agent.output(), /info: info:|info: (warn|error):/);
  } finally {
    await agent.stop();
  }
});

test.run();
