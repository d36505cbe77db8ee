// The --help text, kept out of the resident supervisor bundle (it is in dist/ctl.js).

export const HELP = `phoenix-ga — guest agent for hosting VDS (qemu-ga compatible)

Usage:
  phoenix-ga [run] [options]     run the service in the foreground (supervisor + worker)
  phoenix-ga status [options]    print the running supervisor's view (--json for JSON)
  phoenix-ga install [--root DIR] [--init auto|systemd|sysvinit|upstart] [--no-start] [--runtime NODE]
                                 install into the running system or a mounted image (exit 4:
                                 unfamiliar layout, nothing written)
  phoenix-ga uninstall [--root DIR] [--no-start]
                                 remove what install added (a changed config is kept)
  phoenix-ga --help | --version

Options (each overrides the key of the same name in the config file):
  --config FILE              config file (default /etc/phoenix-ga/phoenix-ga.conf; a missing
                             default file means built-in defaults)
  --channel unix:PATH        serve qemu-ga protocol on a unix socket
  --channel serial:DEVICE    ... or on a character device
                             (default serial:/dev/virtio-ports/org.qemu.guest_agent.0)
  --run-dir DIR              lock, state and status files (default /run/phoenix-ga)
  --log-file FILE            log file, '-' for the console (default /var/log/phoenix-ga.log)
  --heartbeat HOST:PORT      send UDP heartbeats to this collector (an IP address)
  --heartbeat-key FILE       per-VM HMAC key file, mode 0600 (default /etc/phoenix-ga/heartbeat.key)
  --vm-id ID                 VM id carried in heartbeats (default: /etc/machine-id)
  --heartbeat-interval SEC   heartbeat and watchdog period (default 10)
  --hang-timeout SEC         kill a worker that made no progress this long (default 20)
  --stop-grace SEC           SIGTERM grace before SIGKILL when stopping (default 5)
  --worker-heap-mb N         worker V8 heap cap, --max-old-space-size (default 64)
  --allow-rpcs LIST          only these commands are enabled (comma-separated)
  --block-rpcs LIST          these commands are disabled (comma-separated)
  --os-root DIR              change files under DIR instead of / (a mounted image, a test tree)
  --state-dir DIR            persistent state: the command journal (default /var/lib/phoenix-ga)
  --freeze-timeout SEC       thaw frozen file systems after this long (default 600)
  --test-commands            enable phoenix-test-* fault injection commands (tests only)
  --test-crash-at STEP:CMD   the worker kills itself at a journal step (tests only)

Exit codes: 0 stopped cleanly, 2 bad usage or config, 100 another instance holds
the run directory, 111 temporary failure (run directory, channel).
Docs: README.md and docs/ in the package.
`;
