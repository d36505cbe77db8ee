// The service log. The seed's systemd unit discards stdout, so the supervisor writes a size-capped
// file (one rotated copy, FILE.1) or, in the foreground, the console. It is the only writer: the
// worker's stderr lines arrive here through a pipe. Callers never pass secrets; see docs/security.md.
// No write error (a full or read-only /var/log, a closed console) ever reaches the caller.

import fs = require('fs');

export type Level = 'info' | 'warn' | 'error';

export interface Logger {
  log(level: Level, source: string, message: string): void;
  /** While file systems are frozen, lines wait in memory (a write could block forever). */
  pause?(paused: boolean): void;
  /** The last line before the process exits: written at once with the lines held, paused or not. */
  fatal(source: string, message: string): void;
}

const MAX_HELD = 2000;

export interface LogTarget {
  /** A file path, or "-" for the console (stderr). */
  file: string;
  maxBytes: number;
}

export function createLogger(target: LogTarget): Logger {
  if (target.file === '-') {
    // A console that is gone or full (EPIPE, ENOSPC) must not turn into an uncaught error.
    process.stderr.on('error', () => undefined);
    const log = (level: Level, source: string, message: string): void => { process.stderr.write(format(level, source, message)); };
    return { log, fatal: (source, message) => log('error', source, message) };
  }
  let size = -1;
  let fd = -1;
  let held: string[] | null = null;
  const open = (): void => {
    // O_NONBLOCK: a FIFO without a reader fails at once (its lines are dropped), rather than block the supervisor.
    fd = fs.openSync(target.file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o600);
    size = fs.fstatSync(fd).size;
  };
  const write = (line: string): void => {
    try {
      if (fd < 0) open();
      if (size + line.length > target.maxBytes && size > 0) {
        fs.closeSync(fd);
        fs.renameSync(target.file, `${target.file}.1`);
        open();
      }
      size += fs.writeSync(fd, line);
    } catch {
      // A full or read-only /var/log must not stop the agent; the next line tries again.
      if (fd >= 0) try { fs.closeSync(fd); } catch { /* already closed */ }
      fd = -1;
    }
  };
  const flush = (): void => {
    const lines = held ?? [];
    held = null;
    for (const l of lines) write(l);
  };
  return {
    log(level, source, message) {
      const line = format(level, source, message);
      // Past the bound, lines are dropped: a freeze is short, and memory is not the log.
      if (!held) write(line);
      else if (held.length < MAX_HELD) held.push(line);
    },
    pause(paused) {
      if (paused) held ??= [];
      else flush();
    },
    fatal(source, message) {
      flush();
      write(format('error', source, message));
    },
  };
}

/** A worker's stderr line keeps the level the worker gave it; anything else (Node's own crash output) is a warning. */
export function workerLine(line: string): [Level, string] {
  const m = /^(info|warn|error): /.exec(line);
  return m ? [m[1] as Level, line.slice(m[0].length)] : ['warn', line];
}

function format(level: Level, source: string, message: string): string {
  // One line per entry, whatever the message holds.
  const flat = message.replace(/[\r\n]+/g, ' ');
  return `${new Date().toISOString()} ${source} ${level}: ${flat}\n`;
}
