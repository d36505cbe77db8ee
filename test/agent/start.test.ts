// What the shipped worker loads before it says ready: each Node built-in it requires at start is
// start-up time on every (re)start (crypto alone is 5-10 ms), so those the first reply does not need
// are required where they are first used.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { WorkerConfig } from '../../supervisor/ipc';
import { ROOT, tempDir } from '../helpers/agent';

/** Starts dist/agent.js as the supervisor does (IPC channel, minimal environment) and returns the modules Node had loaded when it sent `ready`. */
function modulesAtReady(dir: string): Promise<string[]> {
  const list = path.join(dir, 'modules');
  const preload = path.join(dir, 'at-ready.js');
  fs.writeFileSync(preload, `const send = process.send.bind(process);
process.send = (m, ...a) => { if (m && m.t === 'ready') require('fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')); return send(m, ...a); };\n`);
  fs.mkdirSync(path.join(dir, 'run'), { recursive: true });
  const config: WorkerConfig = {
    generation: 1, channel: { kind: 'unix', path: path.join(dir, 'a.sock') }, maxRequestBytes: 1 << 20, allowRpcs: null, blockRpcs: [],
    testCommands: false, version: 'test', runDir: path.join(dir, 'run'), statsIntervalMs: 60_000, statsHistory: 720, stateDir: path.join(dir, 'state'),
    freezeTimeoutMs: 600_000, osRoot: '/', clockHeal: false, clockHealMaxStepMs: 86_400_000, interfacesOrder: 'real-first', regenerateIdentity: false, testCrashAt: null,
  };
  const worker = spawn(process.execPath, ['-r', preload, path.join(ROOT, 'dist/agent.js')], {
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', PHOENIX_GA_WORKER: JSON.stringify(config) },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { worker.kill('SIGKILL'); reject(new Error('the worker was not ready in 15 s')); }, 15_000);
    worker.on('message', (m: { t?: string }) => { if (m.t === 'ready') worker.kill('SIGKILL'); });
    worker.on('exit', () => {
      clearTimeout(timer);
      try { resolve(fs.readFileSync(list, 'utf8').split('\n')); } catch (e) { reject(e); }
    });
  });
}

test('the worker is ready without having loaded crypto (a known machine: no new instance id to draw)', async () => {
  const dir = tempDir('pga-start-');
  try {
    // The first start records this machine's identity (a random instance id: crypto); the next ones only compare.
    await modulesAtReady(dir);
    const loaded = await modulesAtReady(dir);
    assert.ok(loaded.includes('NativeModule fs'), 'the module list was read');
    assert.not.ok(loaded.includes('NativeModule crypto'), 'crypto was loaded before ready');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the shipped worker copies no Node built-in into a namespace object as it loads (esbuild's wrapper for `import * as`)", () => {
  // One getter defined per export, at load, on every (re)start: 25 such copies of fs, path and net were 15 M instructions.
  const wrapped = fs.readFileSync(path.join(ROOT, 'dist/agent.js'), 'utf8').match(/[\w$]+\(require\("(?:node:)?[a-z_/]+"\)\)/g) ?? [];
  assert.equal(wrapped, [], 'use `import x = require(...)` or named imports for Node built-ins');
});

test.run();
