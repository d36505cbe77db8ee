// phoenix-ga-ctl set-config / get-config: KEY=VALUE words to phoenix-set-config's arguments, and
// the replies for a person. The heartbeat key comes from a file or stdin (--key-file FILE|-), never
// from the command line: argv is visible in ps to every user of the panel host.

import * as fs from 'fs';
import { printable } from './guest-text';

export const CONFIG_USAGE = `  set-config KEY=VALUE... [--key-file FILE|-]
                                            the agent's configuration (phoenix-set-config), live;
                                            KEY: heartbeat vm-id heartbeat-interval stats-interval
                                            stats-history allow-rpcs block-rpcs (lists: a,b,c)
                                            key-id reset (keys back to the default: a,b);
                                            the key: from FILE ('KEYID HEX' or 'HEX'), - for stdin
  get-config                                the configuration in effect and where each value came from
`;

const NUMBERS = new Set(['heartbeat-interval', 'stats-interval', 'stats-history']);
const LISTS = new Set(['allow-rpcs', 'block-rpcs', 'reset']);
const STRINGS = new Set(['heartbeat', 'vm-id', 'key-id']);

/** The key file's text: "KEYID HEX" or "HEX" on one line. */
function readKey(file: string): { key: string; id?: string } {
  const text = fs.readFileSync(file === '-' ? 0 : file, 'utf8').trim();
  const w = text.split(/\s+/);
  if (w.length > 2 || !w[0]) throw new Error(`--key-file ${file === '-' ? 'stdin' : printable(file)}: expected one line 'KEYID HEXKEY' or 'HEXKEY'`);
  return w.length === 2 ? { id: w[0], key: w[1] } : { key: w[0] };
}

/** phoenix-set-config's arguments from KEY=VALUE words and the key file (null: none). */
export function setConfigArgs(words: string[], keyFile: string | undefined): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    const k = eq > 0 ? w.slice(0, eq) : w;
    const v = w.slice(eq + 1);
    if (k === 'key') throw new Error('set-config: the key is never taken from the command line (ps shows it to every user); use --key-file FILE, or --key-file - for stdin');
    if (eq < 1) throw new Error(`set-config: expected KEY=VALUE, got '${printable(w)}'`);
    if (NUMBERS.has(k)) {
      if (v.trim() === '' || !Number.isFinite(Number(v))) throw new Error(`set-config: ${k}: expected a number, got '${printable(v)}'`);
      args[k] = Number(v);
    } else if (LISTS.has(k)) args[k] = v.split(',').map((x) => x.trim()).filter(Boolean);
    else if (STRINGS.has(k)) args[k] = v;
    else throw new Error(`set-config: unknown key '${printable(k)}' (known: ${[...STRINGS, ...NUMBERS, ...LISTS].join(', ')})`);
  }
  if (keyFile !== undefined) {
    const { key, id } = readKey(keyFile);
    if (id !== undefined && args['key-id'] !== undefined && args['key-id'] !== id) throw new Error(`set-config: key-id=${printable(String(args['key-id']))} differs from the key file's id '${printable(id)}'`);
    args.key = key;
    if (id !== undefined) args['key-id'] = id;
  }
  return args;
}

const shown = (v: unknown): string => printable(v === null ? 'none' : Array.isArray(v) ? (v.length ? v.join(',') : '(empty)') : String(v));

/** The reply of set-config or get-config for a person; every guest string made printable. */
export function humanConfig(cmd: 'set-config' | 'get-config', r: unknown): string {
  if (cmd === 'set-config') {
    const s = r as { changed: Array<{ key: string; old: unknown; new: unknown }>; written: string[]; worker_restarted: boolean };
    const lines = s.changed.map((c) => (c.key === 'key' ? `key: ${shown(c.old)} -> changed` : `${printable(c.key)}: ${shown(c.old)} -> ${shown(c.new)}`));
    return [...(lines.length ? lines : ['nothing changed']), `applied live${s.worker_restarted ? '; the worker was restarted' : ''}; written: ${s.written.length ? s.written.map(printable).join(', ') : 'nothing'}`].join('\n');
  }
  const g = r as { keys: Record<string, { value: unknown; from: string; where?: string; set_at?: string; in_file?: unknown; applies?: string }>; key: { file: string; set: boolean; key_id?: string; problem?: string } };
  const rows = Object.entries(g.keys).map(([k, v]) => `${printable(k)} = ${shown(v.value)}  (${printable(v.from)}${v.where ? ` ${printable(v.where)}` : ''}${v.set_at ? ` at ${printable(v.set_at)}` : ''})${v.applies ? `; the file has ${shown(v.in_file)}, applied ${printable(v.applies)}` : ''}`);
  rows.push(`key: ${g.key.set ? `set, key id '${printable(g.key.key_id ?? '')}'` : `not set${g.key.problem ? ` (${printable(g.key.problem)})` : ''}`} (${printable(g.key.file)})`);
  return rows.join('\n');
}
