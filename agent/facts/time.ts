// guest-get-time and guest-get-timezone. qemu-ga reports localtime's zone abbreviation and offset
// (tm_zone, tm_gmtoff); here they come from /etc/localtime (TZif) under the host's root.

import type { Host } from '../os/host';

interface TzType { utoff: number; isdst: boolean; abbr: string }
export interface TzInfo { types: TzType[]; transitions: Array<{ at: number; type: number }>; footer: string }

/** Parses a TZif file (versions 1-4), preferring the 64-bit data block when there is one. */
export function parseTzif(b: Buffer): TzInfo | null {
  if (b.length < 44 || b.toString('latin1', 0, 4) !== 'TZif') return null;
  const counts = (o: number) => ({ isut: b.readUInt32BE(o + 20), isstd: b.readUInt32BE(o + 24), leap: b.readUInt32BE(o + 28), time: b.readUInt32BE(o + 32), type: b.readUInt32BE(o + 36), char: b.readUInt32BE(o + 40) });
  let o = 0;
  let c = counts(0);
  let tsize = 4;
  const v1len = 44 + c.time * 4 + c.time + c.type * 6 + c.char + c.leap * 8 + c.isstd + c.isut;
  if (b[4] >= 0x32 && b.length > v1len + 44) { o = v1len; c = counts(o); tsize = 8; }
  let p = o + 44;
  const transitions: TzInfo['transitions'] = [];
  const times: number[] = [];
  for (let i = 0; i < c.time; i++, p += tsize) times.push(tsize === 8 ? Number(b.readBigInt64BE(p)) : b.readInt32BE(p));
  for (let i = 0; i < c.time; i++, p++) transitions.push({ at: times[i], type: b[p] });
  const raw: Array<{ utoff: number; isdst: boolean; ai: number }> = [];
  for (let i = 0; i < c.type; i++, p += 6) raw.push({ utoff: b.readInt32BE(p), isdst: b[p + 4] === 1, ai: b[p + 5] });
  const chars = b.toString('latin1', p, p + c.char);
  p += c.char + c.leap * (tsize + 4) + c.isstd + c.isut;
  const types = raw.map((t) => ({ utoff: t.utoff, isdst: t.isdst, abbr: chars.slice(t.ai, chars.indexOf('\0', t.ai) >>> 0) }));
  const footer = tsize === 8 ? b.toString('latin1', p).split('\n')[1] ?? '' : '';
  return { types, transitions, footer };
}

/** The POSIX TZ string's names and offsets ("CET-1CEST,M3.5.0,M10.5.0/3", "<+03>-3", "MSK-3"). */
export function parsePosixTz(tz: string): { std: TzType; dst: TzType | null } | null {
  const name = '(<[^>]+>|[A-Za-z]{3,})';
  const off = '([+-]?\\d{1,2}(?::\\d{2}){0,2})';
  const m = new RegExp(`^${name}${off}(?:${name}(${off.slice(1, -1)})?)?`).exec(tz);
  if (!m) return null;
  const secs = (s: string) => { const [h, mi = '0', se = '0'] = s.replace(/^[+-]/, '').split(':'); return (s.startsWith('-') ? 1 : -1) * (Number(h) * 3600 + Number(mi) * 60 + Number(se)); };
  const clean = (n: string) => n.replace(/^<|>$/g, '');
  const std = { utoff: secs(m[2]), isdst: false, abbr: clean(m[1]) };
  return { std, dst: m[3] ? { utoff: m[4] ? secs(m[4]) : std.utoff + 3600, isdst: true, abbr: clean(m[3]) } : null };
}

/** The zone in effect at NOW (seconds): the last transition before it, else the footer rule. */
export function zoneAt(tz: TzInfo, nowSec: number, liveOffset: number | null): TzType | null {
  let last: number | null = null;
  for (const t of tz.transitions) if (t.at <= nowSec) last = t.type;
  const afterAll = tz.transitions.length === 0 || nowSec > tz.transitions[tz.transitions.length - 1].at;
  const rule = tz.footer ? parsePosixTz(tz.footer) : null;
  if (afterAll && rule) {
    // Evaluating the DST rule is V8's job on the live system: it knows the current offset.
    if (rule.dst && liveOffset === rule.dst.utoff) return rule.dst;
    return rule.std;
  }
  if (last !== null) return tz.types[last] ?? null;
  return tz.types.find((t) => !t.isdst) ?? tz.types[0] ?? null;
}

/**
 * The parsed zone file by the identity of /etc/localtime (what the link points to, its size and
 * change time): a zone change links or writes another file, so one stat per call says whether
 * to read it again.
 */
const zones = new WeakMap<Host, { id: string; tz: TzInfo | null }>();

function zoneFile(host: Host): TzInfo | null {
  const id = host.identity('/etc/localtime');
  const known = zones.get(host);
  if (id !== null && known?.id === id) return known.tz;
  const tz = parseTzif(host.readBytes('/etc/localtime') ?? Buffer.alloc(0));
  if (id === null) zones.delete(host); else zones.set(host, { id, tz });
  return tz;
}

export function timezone(host: Host, now = new Date()): { zone?: string; offset: number } {
  const live = host.root === '/' ? -now.getTimezoneOffset() * 60 : null;
  const tz = zoneFile(host);
  const z = tz && zoneAt(tz, Math.floor(now.getTime() / 1000), live);
  if (!z) return live === null ? { zone: 'UTC', offset: 0 } : { offset: live };
  return { zone: z.abbr, offset: live ?? z.utoff };
}
