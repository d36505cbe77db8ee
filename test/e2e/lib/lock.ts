// A cross-process lock on CACHE_DIR/<name>.lock, so that two test processes never build the same
// tree or image at once. flock(1) holds it in a child that lives until its stdin closes: the lock
// is released when the work ends and also when this process dies in any way.

import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CACHE_DIR, note, since } from './host';

export async function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const file = path.join(CACHE_DIR, `${name}.lock`);
  const holder = spawn('flock', ['-x', file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const t0 = Date.now();
  const waiting = setTimeout(() => note(`waiting for ${file} (another test process is building)`), 1000);
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('error', (e) => reject(Object.assign(new Error(`e2e: cannot run flock for ${file}: ${e.message}`), { cause: e })));
      holder.once('exit', (code) => reject(new Error(`e2e: flock ${file} exited with ${code} before taking the lock`)));
    });
  } finally {
    clearTimeout(waiting);
  }
  if (Date.now() - t0 > 1000) note(`took ${file} after ${since(t0)}`);
  try {
    return await work();
  } finally {
    holder.stdin!.end();
  }
}
