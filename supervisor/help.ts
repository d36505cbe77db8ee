// The --help texts, kept out of the resident supervisor bundle (they are in dist/ctl.js).

export const HELP = `phoenix-ga — guest agent for hosting VDS (qemu-ga compatible)

Usage:
  phoenix-ga [run] [options]     run the service in the foreground (supervisor + worker)
  phoenix-ga status [options]    print the running supervisor's view (--json for JSON)
  phoenix-ga install [options]   install into the running system or a mounted image
  phoenix-ga uninstall [options] remove what install added (see: phoenix-ga install --help)
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
  --clock-heal on|off        step the clock back to the RTC after a paused VM (default on)
  --regenerate-identity-on-clone yes|no
                             new machine-id and SSH host keys on a clone (default yes)
  --test-commands            use the test worker with phoenix-test-* fault injection commands
                             (a build tree only: packages do not ship it)
  --test-crash-at STEP:CMD   with --test-commands: the worker kills itself at a journal step

Exit codes: 0 stopped cleanly; 2 bad usage or config; 3 (status) the supervisor is not
running; 70 internal error (the init system restarts it); 75 restarting into another version
(an update applied or rolled back: the init starts it); 100 another instance holds the run
directory; 111 temporary failure (run directory, channel).
Docs: configuration.md, operations.md, install.md, heartbeat.md and commands.md, in docs/ of
the tarball and in /usr/share/doc/phoenix-ga of the .deb (the larger ones as .md.gz: zless).
`;

export const INSTALLER_HELP = `phoenix-ga install — put phoenix-ga into a system and start it at boot

Usage:
  phoenix-ga install [--root DIR] [--init auto|systemd|sysvinit|upstart] [--no-start] [--runtime NODE]
  phoenix-ga uninstall [--root DIR] [--no-start]
  phoenix-ga install --help

install copies this package's Node runtime and bundles to /usr/lib/phoenix-ga/VERSION and
switches /usr/lib/phoenix-ga/current to it with one rename, writes the launcher
/usr/sbin/phoenix-ga, a default /etc/phoenix-ga/phoenix-ga.conf (only when there is none: an
upgrade keeps yours and the heartbeat key), and the init entry: a systemd unit, a respawn block
in /etc/inittab (between '#-- PGA begin' and '#-- PGA end'), or an upstart job, enabled for boot.
A second run changes nothing.

On the running system (no --root) it then starts the new version (systemd: restart; upstart:
stop and start; sysvinit: telinit q, then SIGTERM to the old supervisor, which init respawns)
and waits up to 30 s until its supervisor and worker run. If they do not, it switches back to
the previous version, starts that again and exits 1. A previous version's directory is removed
once no process runs from it (the next install removes one still in use).

  --root DIR      install into the system tree at DIR (a mounted image); nothing in it is run
  --init KIND     skip detection (detection reads /sbin/init and /etc/inittab, /etc/init)
  --no-start      on the running system: change files only, start or stop nothing
  --runtime NODE  the Node binary to install (default: the one beside the bundles; the
                  tarball brings Node 20 and Node 16 and installs Node 20 when the target's
                  libraries have what it needs (glibc 2.28), else Node 16)
  --from-package  (the .deb's scripts) dpkg owns the files: add or remove only the current
                  link and the init entry (and on removal the versions updates over the
                  channel added); the config, key, journal and log stay for dpkg -P. A newer
                  version an update installed keeps running, unless --allow-downgrade

uninstall stops the service, then removes what install added; the config stays if you changed
it, and so do files install did not write (the heartbeat key). See docs/install.md.

Exit codes: 0 done; 1 failed (a file could not be written, or the new version did not start:
the previous one runs again); 2 bad usage; 4 refused, nothing written: the tree's init is not
one this installer knows, or two inits are present (use --init).
`;
