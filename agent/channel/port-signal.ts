// The virtio-serial driver signals the port's owner with SIGIO when the host opens or closes its
// side and when data arrives, once the port has O_ASYNC and an owner (fcntl F_SETOWN). Node has no
// fcntl, but the flag and the owner belong to the open file description, shared with any process
// that inherits the descriptor: perl (perl-base is Essential on Debian and Ubuntu) sets them on
// its fd 3 = the port, naming this process. Not its stdin: libuv makes a child's fds 0-2 blocking,
// and that would change the port for the worker and the supervisor too. SIGIO's default action
// kills: the listener is installed before the owner is set, and stays. A dead owner's pid, reused
// later, is not signalled: F_SETOWN holds a reference to the owner's struct pid, not the number.

import { spawn } from 'child_process';

const ARM = [
  'use Fcntl;',
  'open(my $p, "+<&=", 3) or die "fd 3: $!\\n";',
  'fcntl($p, F_SETOWN, 0 + $ARGV[0]) or die "F_SETOWN: $!\\n";',
  'my $f = fcntl($p, F_GETFL, 0) or die "F_GETFL: $!\\n";',
  'fcntl($p, F_SETFL, $f | O_ASYNC) or die "F_SETFL: $!\\n";',
].join(' ');

const PERL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', LANG: 'C' };

/**
 * Asks for SIGIO on FD, calling SIGNALLED at each; DONE gets null once armed, or why not (no perl:
 * the caller keeps polling). PERL is a parameter for the tests.
 */
export function armPortSignal(fd: number, signalled: () => void, done: (err: string | null) => void, perl = 'perl'): void {
  process.on('SIGIO', signalled);
  let settled = false;
  const settle = (err: string | null): void => { if (!settled) { settled = true; done(err); } };
  let stderr = '';
  // Root's own tool directories and nothing of the worker's environment (its config carries guest
  // data); a perl that hangs is ended and the port keeps polling.
  const child = spawn(perl, ['-e', ARM, String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe', fd], env: PERL_ENV, timeout: 5000 });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  child.on('error', (e) => settle(e.message));
  child.on('close', (code) => settle(code === 0 ? null : stderr.trim() || `perl exited with ${code}`));
}
