// The examples in docs/heartbeat.md, taken from the file and run: key files parse (the agent's
// and the collector's, comments and all), the collector command starts, and each curl line gets
// an answer from it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readHeartbeatKey } from '../../supervisor/heartbeat';
import { parseKeyFile } from '../../panel/key-file';
import { cleanEnv, ROOT, tempDir, waitFor } from '../helpers/agent';

const doc = fs.readFileSync(path.join(ROOT, 'docs/heartbeat.md'), 'utf8');
const blocks = (lang: string) => [...doc.matchAll(/^```(\S*)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang).map((m) => m[2]);

test('every key file example parses, the agent\'s and the collector\'s', () => {
  const agentKeys = blocks('heartbeat-key');
  const collectorKeys = blocks('keys');
  assert.ok(agentKeys.length >= 1 && collectorKeys.length >= 1);
  const dir = tempDir();
  for (const k of agentKeys) {
    fs.writeFileSync(`${dir}/k`, k, { mode: 0o600 });
    assert.is(readHeartbeatKey(`${dir}/k`).key.length, 32);
  }
  for (const k of collectorKeys) assert.ok([...parseKeyFile(k).values()].flat().length >= 1, k);
});

test('the collector command starts as documented and every curl line is answered', async () => {
  const dir = tempDir();
  fs.writeFileSync(`${dir}/heartbeat.keys`, blocks('keys')[0]);
  const udp = 20000 + crypto.randomInt(20000);
  const sub = (line: string) => line.replace(/\/etc\/panel\/heartbeat\.keys/g, `${dir}/heartbeat.keys`).replace(/:7070\b/g, `:${udp}`).replace(/:7071\b/g, `:${udp + 1}`);
  const lines = blocks('sh').join('\n').split('\n').filter((l) => l.trim());
  const start = lines.filter((l) => l.startsWith('node dist/phoenix-ga-receiver.js'));
  const curls = lines.filter((l) => l.startsWith('curl '));
  assert.is(start.length, 1);
  assert.ok(curls.length >= 5);
  const args = sub(start[0]).split(/\s+/).slice(1);
  const p = spawn(process.execPath, [path.join(ROOT, args[0]), ...args.slice(1)], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d) => { err += d; });
  try {
    await waitFor('the collector', () => err.includes('listening') && err.includes('http://'), 5000).catch((e: Error) => { throw new Error(`${e.message}: ${err}`); });
    for (const c of curls) {
      const r = spawnSync('sh', ['-c', sub(c).replace(/^curl /, "curl -w '\\n%{http_code}' ")], { encoding: 'utf8', timeout: 5000 });
      const out = r.stdout.trimEnd().split('\n');
      assert.is(out[out.length - 1], '200', `${c}: ${r.stdout} ${r.stderr}`);
      assert.ok(r.status === 0 || (c.includes('/events') && r.status === 28), `${c}: exit ${r.status}`);
    }
  } finally {
    p.kill();
  }
});

test.run();
