// The INI shape systemd .network files and NetworkManager keyfiles share, read line by line so an
// edit can touch exactly the lines it means and leave every other byte as the customer wrote it.

export interface IniLine {
  /** Index into the file's lines. */
  index: number;
  section: string;
  key: string;
  value: string;
}

export interface Ini {
  lines: string[];
  /** Key lines in file order (comments, blanks and section headers are not entries). */
  entries: IniLine[];
  /** Section name to the index of its header line (the first header when a section repeats). */
  headers: Map<string, number>;
}

/** Splits TEXT into lines; a final newline gives no extra line, so join() gives TEXT back. */
export function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export const joinLines = (lines: string[]): string => (lines.length ? lines.join('\n') + '\n' : '');

/** Comments start with '#' (both formats) or ';' (systemd) as the first non-blank character. */
export function parseIni(text: string): Ini {
  const lines = splitLines(text);
  const entries: IniLine[] = [];
  const headers = new Map<string, number>();
  let section = '';
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line[0] === '#' || line[0] === ';') return;
    const h = /^\[([^\]]+)\]$/.exec(line);
    if (h) {
      section = h[1];
      if (!headers.has(section)) headers.set(section, index);
      return;
    }
    const eq = line.indexOf('=');
    if (eq > 0) entries.push({ index, section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim() });
  });
  return { lines, entries, headers };
}

export function values(ini: Ini, section: string, key: string): string[] {
  return ini.entries.filter((e) => e.section === section && e.key === key).map((e) => e.value);
}

/** The index after the last line of SECTION's first block, before any blank lines that end it. */
export function sectionEnd(ini: Ini, section: string): number {
  const start = ini.headers.get(section);
  if (start === undefined) return -1;
  let end = start + 1;
  while (end < ini.lines.length && !/^\s*\[/.test(ini.lines[end])) end++;
  while (end > start + 1 && ini.lines[end - 1].trim() === '') end--;
  return end;
}
