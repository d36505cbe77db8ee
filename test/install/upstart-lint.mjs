#!/usr/bin/env node
// upstart-lint.mjs (from the project research, ../shared/research/e2e-tools) - static check of an upstart job file (/etc/init/NAME.conf).
// Upstart is not packaged in Debian any more and no Ubuntu archive is reachable from CI, so the
// job cannot be run for real; this checks the syntax against upstart 1.x's stanza list (init(5))
// and the things phoenix-ga relies on.
//
// Usage: node upstart-lint.mjs FILE [--expect-exec /usr/sbin/phoenix-ga]
// Exit 0 when clean, 1 with one message per line otherwise.
import fs from 'node:fs';

const [file, ...rest] = process.argv.slice(2);
const expectExec = rest[0] === '--expect-exec' ? rest[1] : null;
if (!file) { console.error('usage: upstart-lint.mjs FILE [--expect-exec PATH]'); process.exit(2); }

// stanza -> argument rule: 0 = none, 1 = at least one argument, 'signal', 'int', 'int2', 'block'
const STANZAS = {
  author: 1, description: 1, version: 1, usage: 1, emits: 1, instance: 1, manual: 0, task: 0,
  'start on': 1, 'stop on': 1, env: 1, export: 1, exec: 1, script: 'block',
  'pre-start': 'block', 'post-start': 'block', 'pre-stop': 'block', 'post-stop': 'block',
  respawn: 0, 'respawn limit': 'int2', expect: ['fork', 'daemon', 'stop'],
  'kill signal': 'signal', 'reload signal': 'signal', 'kill timeout': 'int', 'normal exit': 1,
  console: ['none', 'log', 'output', 'owner'], umask: 1, nice: 'int', 'oom score': 1, limit: 1,
  chdir: 1, chroot: 1, setuid: 1, setgid: 1, 'apparmor load': 1, 'apparmor switch': 1, cgroup: 1,
};
const TWO_WORD = Object.keys(STANZAS).filter((k) => k.includes(' '));
const errors = [];
const lines = fs.readFileSync(file, 'utf8').split('\n');
let inScript = null; let sawExec = null; let sawRespawn = false; let sawStartOn = false;

for (let i = 0; i < lines.length; i++) {
  const n = i + 1;
  const line = lines[i].replace(/\s+$/, '');
  if (inScript) { if (/^\s*end script\s*$/.test(line)) inScript = null; continue; }
  const t = line.replace(/^\s+/, '');
  if (t === '' || t.startsWith('#')) continue;
  const words = t.split(/\s+/);
  let key = words[0];
  if (TWO_WORD.includes(`${words[0]} ${words[1]}`)) key = `${words[0]} ${words[1]}`;
  const args = words.slice(key.split(' ').length);
  const rule = STANZAS[key];
  if (rule === undefined) { errors.push(`${file}:${n}: unknown stanza "${words[0]}"`); continue; }
  if (rule === 'block') {
    // "script" / "pre-start script" open a block; "pre-start exec CMD" is a one-liner
    if (key === 'script' || args[0] === 'script') { if (args.length > (key === 'script' ? 0 : 1)) errors.push(`${file}:${n}: junk after script`); inScript = n; }
    else if (args[0] !== 'exec' || args.length < 2) errors.push(`${file}:${n}: "${key}" needs "script" or "exec CMD"`);
  } else if (rule === 0 && args.length) errors.push(`${file}:${n}: "${key}" takes no arguments`);
  else if (rule === 1 && !args.length) errors.push(`${file}:${n}: "${key}" needs an argument`);
  else if (rule === 'int' && !(args.length === 1 && /^-?\d+$/.test(args[0]))) errors.push(`${file}:${n}: "${key}" needs one integer`);
  else if (rule === 'int2' && !(args.length === 1 && args[0] === 'unlimited') && !(args.length === 2 && args.every((a) => /^\d+$/.test(a)))) errors.push(`${file}:${n}: "respawn limit" needs COUNT INTERVAL or unlimited`);
  else if (rule === 'signal' && !(args.length === 1 && /^(SIG)?[A-Z0-9]+$|^\d+$/.test(args[0]))) errors.push(`${file}:${n}: "${key}" needs a signal`);
  else if (Array.isArray(rule) && !(args.length === 1 && rule.includes(args[0]))) errors.push(`${file}:${n}: "${key}" must be one of ${rule.join('|')}`);
  if (key === 'exec') sawExec = args[0];
  if (key === 'script') sawExec = sawExec || '(script)';
  if (key === 'respawn') sawRespawn = true;
  if (key === 'start on') sawStartOn = true;
}
if (inScript) errors.push(`${file}:${inScript}: script block without "end script"`);
if (!sawExec) errors.push(`${file}: no "exec" or "script" stanza`);
if (!sawStartOn) errors.push(`${file}: no "start on" stanza (job would never start at boot)`);
if (!sawRespawn) errors.push(`${file}: no "respawn" stanza`);
if (expectExec && sawExec !== expectExec) errors.push(`${file}: exec is "${sawExec}", expected "${expectExec}"`);
if (errors.length) { console.log(errors.join('\n')); process.exit(1); }
console.log(`${file}: ok`);
