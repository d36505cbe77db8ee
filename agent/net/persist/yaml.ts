// A reader for the YAML that netplan files are written in: block mappings and sequences, plain and
// quoted scalars, one-line (or bracket-continued) flow [..] and {..}, comments. Anchors, aliases,
// tags, block scalars (| >) and several documents are refused with the file and line, so a file we
// cannot read is never half-read. Every scalar stays a string (or null for an empty value, ~ or
// null); a mapping key is always its text, as netplan reads IDs (a plain `null:` names "null").
// yamlKey() writes a key back so that every YAML reader takes it for that text.

import { PersistError } from './types';

export type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

/** Plain keys a YAML 1.1 or 1.2 reader would take for null, a boolean or a number (or a non-name). */
const PLAIN_SAFE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const SPECIAL = /^(?:null|true|false|yes|no|on|off|y|n)$/i;

/** KEY as YAML text that every reader takes for the string KEY: plain when safe, else quoted. */
export function yamlKey(key: string): string {
  return PLAIN_SAFE.test(key) && !SPECIAL.test(key) ? key : JSON.stringify(key);
}

interface Line { indent: number; text: string; no: number }

/** Cuts a comment ('#' at the start or after a blank, outside quotes) and trailing blanks. */
function stripComment(raw: string): string {
  let quote = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quote) {
      if (c === quote && !(quote === '"' && raw[i - 1] === '\\')) quote = '';
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s[{,:-]/.test(raw[i - 1]))) quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(raw[i - 1]))) return raw.slice(0, i).trimEnd();
  }
  return raw.trimEnd();
}

export function parseYaml(text: string, file: string): Yaml {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, n) => {
    const s = stripComment(raw);
    const body = s.trimStart();
    if (!body || body === '---' || body === '...' || body[0] === '%') return;
    if (/^ *\t/.test(s)) throw bad(n + 1, 'a tab in the indentation');
    lines.push({ indent: s.length - body.length, text: body, no: n + 1 });
  });
  if (text.split('\n').filter((l) => l.startsWith('---')).length > 1) throw bad(1, 'several documents');
  let i = 0;
  function bad(no: number, what: string): PersistError {
    return new PersistError(`cannot read ${file}: line ${no}: ${what} (phoenix-ga reads a subset of YAML: block and one-line flow collections, plain and quoted scalars)`, file);
  }
  const isDash = (t: string) => t === '-' || t.startsWith('- ');

  function node(min: number): Yaml {
    if (i >= lines.length || lines[i].indent < min) return null;
    return isDash(lines[i].text) ? seq(lines[i].indent) : map(lines[i].indent);
  }
  function seq(ind: number): Yaml[] {
    const out: Yaml[] = [];
    while (i < lines.length && lines[i].indent === ind && isDash(lines[i].text)) {
      const l = lines[i];
      const rest = l.text.slice(1).trimStart();
      if (!rest) { i++; out.push(node(ind + 1)); continue; }
      if (isDash(rest) || (!/^[[{]/.test(rest) && keySplit(rest, l.no))) {
        // "- key: value" opens a mapping whose keys line up with "key".
        lines[i] = { indent: ind + l.text.length - rest.length, text: rest, no: l.no };
        out.push(node(lines[i].indent));
        continue;
      }
      i++;
      out.push(value(rest, l.no));
    }
    if (i < lines.length && lines[i].indent > ind) throw bad(lines[i].no, 'unexpected indentation');
    return out;
  }
  function map(ind: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i].indent === ind) {
      const l = lines[i];
      if (isDash(l.text)) throw bad(l.no, 'a sequence entry among mapping keys');
      const kv = keySplit(l.text, l.no);
      if (!kv) throw bad(l.no, 'expected "key: value"');
      i++;
      let rest = kv[1];
      if (rest === '') {
        const next = lines[i];
        out[kv[0]] = next && (next.indent > ind || (next.indent === ind && isDash(next.text))) ? node(next.indent) : null;
        continue;
      }
      // A flow collection may go on over the next lines until its brackets close.
      while (/^[[{]/.test(rest) && !balanced(rest) && i < lines.length) rest += ' ' + lines[i++].text;
      out[kv[0]] = value(rest, l.no);
    }
    if (i < lines.length && lines[i].indent > ind) throw bad(lines[i].no, 'unexpected indentation');
    return out;
  }
  /** "key: rest" or "key:" split at the first colon followed by a blank or the end; null when none. */
  function keySplit(t: string, no: number): [string, string] | null {
    let end = 0;
    if (t[0] === '"' || t[0] === "'") {
      end = closing(t, 0, no) + 1;
      if (t[end] !== ':') return null;
    } else {
      const m = /:(\s|$)/.exec(t);
      if (!m) return null;
      end = m.index;
    }
    return [keyText(t.slice(0, end), no), t.slice(end + 1).trim()];
  }
  function closing(t: string, at: number, no: number): number {
    const q = t[at];
    for (let j = at + 1; j < t.length; j++) {
      if (q === '"' && t[j] === '\\') { j++; continue; }
      if (t[j] === q) {
        if (q === "'" && t[j + 1] === "'") { j++; continue; }
        return j;
      }
    }
    throw bad(no, 'an unterminated quoted scalar');
  }
  /** A key is its text: `null:` and `~:` name "null" and "~", as in netplan. */
  function keyText(t: string, no: number): string {
    const key = value(t, no);
    return key === null ? t : typeof key === 'string' ? key : '';
  }
  function unquote(t: string): string {
    if (t[0] === "'") return t.slice(1, -1).replace(/''/g, "'");
    return t.slice(1, -1).replace(/\\(u[0-9a-fA-F]{4}|.)/g, (_, e: string) =>
      e.length > 1 ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ n: '\n', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e);
  }
  function balanced(t: string): boolean {
    let depth = 0, quote = '';
    for (const c of t) {
      if (quote) { if (c === quote) quote = ''; } else if (c === '"' || c === "'") quote = c;
      else if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') depth--;
    }
    return depth <= 0;
  }
  function value(t: string, no: number): Yaml {
    if (/^[&*!|>]/.test(t)) throw bad(no, `unsupported "${t[0]}"`);
    if (t[0] === '[' || t[0] === '{') {
      const f = { t, at: 0 };
      const v = flow(f, no);
      if (f.t.slice(f.at).trim()) throw bad(no, 'text after a flow collection');
      return v;
    }
    if (t[0] === '"' || t[0] === "'") {
      if (closing(t, 0, no) !== t.length - 1) throw bad(no, 'text after a quoted scalar');
      return unquote(t);
    }
    return t === '~' || t === 'null' ? null : t;
  }
  function flow(f: { t: string; at: number }, no: number): Yaml {
    const ws = () => { while (/\s/.test(f.t[f.at] ?? '')) f.at++; };
    ws();
    const open = f.t[f.at];
    if (open === '[' || open === '{') {
      f.at++;
      const list: Yaml[] = [];
      const obj: { [key: string]: Yaml } = {};
      for (;;) {
        ws();
        if (f.t[f.at] === (open === '[' ? ']' : '}')) { f.at++; return open === '[' ? list : obj; }
        const from = f.at;
        const item = flow(f, no);
        ws();
        if (open === '{') {
          if (f.t[f.at] !== ':') throw bad(no, 'expected ":" in a flow mapping');
          f.at++;
          obj[item === null ? f.t.slice(from, f.at - 1).trim() : typeof item === 'string' ? item : ''] = flow(f, no);
          ws();
        } else list.push(item);
        if (f.t[f.at] === ',') f.at++;
        else if (f.t[f.at] !== (open === '[' ? ']' : '}')) throw bad(no, 'an unterminated flow collection');
      }
    }
    if (open === '"' || open === "'") {
      const end = closing(f.t, f.at, no);
      const s = unquote(f.t.slice(f.at, end + 1));
      f.at = end + 1;
      return s;
    }
    // A plain scalar in flow ends at a , ] } or at a ": " (a key in a flow mapping).
    const m = /^(.*?)(?=\s*(?:[,\]}]|:(?:\s|[,\]}]|$)|$))/.exec(f.t.slice(f.at))!;
    f.at += m[1].length;
    return value(m[1].trim(), no);
  }
  const doc = node(0);
  if (i < lines.length) throw bad(lines[i].no, 'unexpected text');
  return doc;
}
