// The host's side of a serial channel for tests: socat makes a pseudo-terminal (raw, no echo) that
// the agent opens as its port, and bridges it to a unix socket the test connects to as the host.
// A pty stands in for the virtio port (the VM test drives a real one); it is also a device that
// net.Socket cannot take.

import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { waitFor } from './agent';

export interface HostBridge { proc: ChildProcess; port: string; hostSock: string }

export function startHostBridge(dir: string): HostBridge {
  const port = path.join(dir, 'port');
  const hostSock = path.join(dir, 'host.sock');
  const proc = spawn('socat', [`PTY,link=${port},raw,echo=0`, `UNIX-LISTEN:${hostSock}`], { stdio: 'ignore' });
  return { proc, port, hostSock };
}

export async function startedHostBridge(dir: string): Promise<HostBridge> {
  const b = startHostBridge(dir);
  await waitFor('socat pty', () => fs.existsSync(b.port) && fs.existsSync(b.hostSock), 15_000);
  return b;
}

/**
 * A pty whose host side serves one connection at a time, as QEMU's socket chardev does (socat's
 * fork mode would let two relays read the pty at once). COOKED keeps the tty's default line
 * discipline, as an ISA serial port has before the agent makes it raw.
 */
export async function startedChardevHost(dir: string, cooked = false): Promise<HostBridge> {
  const port = path.join(dir, 'port');
  const hostSock = path.join(dir, 'host.sock');
  const root = __dirname.split(`${path.sep}.test-out`)[0];
  const proc = spawn('python3', [path.join(root, 'test/helpers/serial-host.py'), port, hostSock, ...(cooked ? ['--cooked'] : [])], { stdio: 'ignore' });
  await waitFor('serial host', () => fs.existsSync(port) && fs.existsSync(hostSock), 15_000);
  return { proc, port, hostSock };
}
