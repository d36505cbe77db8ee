// Commands no other guest agent has, for the questions a hosting panel is asked most: which
// buttons work on this server and why not, why a customer cannot log in, and a disk enlarged
// but not grown. qemu-ga has none of them.

import { rare } from '../rare/load';
import { command } from './command';
import { noArgs, object, str } from './schema';

export const beyondCommands = [
  command({
    name: 'phoenix-capabilities',
    description: 'Every command with `enabled` and, when it cannot work here, `reasons` (each a `kind`: config, frozen, missing-tool, read-only-root, no-space, journal or kernel, and a `desc` for a tooltip); also whether the file systems are frozen, the root tree writable, read-only or full, and why the journal refuses records. No tool is run. `enabled` is false when the command would fail as a panel sends it (mutating commands with an idempotency key need the journal). guest-info keeps qemu-ga\'s shape; qemu-ga has no such command.',
    args: noArgs,
    run: (_a, ctx) => rare().capabilities(ctx),
  }),
  command({
    name: 'phoenix-diagnose-login',
    description: 'Every reason a login of `username` can fail, each with its evidence: the account (missing, locked, expired, shell, home, no password and no keys), sshd (installed, running, listening and on which ports, its effective settings for this user from `sshd -T`, what StrictModes refuses in ~/.ssh), firewall rules on the SSH ports (nft, iptables-save), fail2ban bans, pam_faillock counts, /etc/nologin, a full or read-only root. Read-only: it changes nothing. A tool that is not installed is reported as not checked, never as an error. qemu-ga has no such command.',
    args: object({ username: str({ maxLength: 64, doc: 'user name' }) }),
    run: (a, ctx) => rare().diagnoseLogin(ctx.sys, ctx.host, a.username),
  }),
  command({
    name: 'phoenix-grow-filesystem',
    description: 'After the host enlarged a virtual disk, grow the file system mounted at `mountpoint` into it, online: rescan the disk (losetup -c, SCSI rescan; virtio-blk, NVMe and Xen update themselves), grow its partition as growpart does (growpart, else sfdisk: the last partition only, GPT with its backup moved to the new end, or primary MBR), partx -u, then resize2fs (ext2/3/4), xfs_growfs or `btrfs filesystem resize max`; on LVM the logical volume takes its volume group\'s free extents (lvextend -r, the file system with it), while room added to the disk under the physical volume is left to the administrator (partition, pvresize). A virtio-blk disk the host enlarged while the guest runs (QMP block_resize, virsh blockresize) already has its new size in the guest: one call right after the resize grows it. Refused with the reason before any change: no block device, a read-only mount, another file system type, a partition not last, a logical MBR partition, LVM without free extents, other device-mapper or md devices, a missing tool. Replies disk, partition and file system bytes before and after, each step, and `result` (grown or nothing to grow). qemu-ga has no such command.',
    args: object({ mountpoint: str({ maxLength: 4096, doc: 'mount point, an absolute path as /proc/self/mountinfo shows it' }) }),
    mutating: true,
    run: (a, ctx) => rare().growFilesystem(ctx.sys, ctx.host, a.mountpoint),
  }),
  command({
    name: 'phoenix-get-host-keys',
    description: 'The SSH host keys of `/etc/ssh/ssh_host_*_key.pub` as `ssh-keygen -l` shows them: `type` (ED25519, ECDSA, RSA...), `bits`, `fingerprint` (SHA256:...), with `file` and `algorithm`; a file that is not a regular file of at most 16 KiB, or holds no key, is listed in `skipped` with the reason (links are not followed). For the panel to show the customer what a first ssh connection must see. qemu-ga has no such command.',
    args: noArgs,
    run: (_a, ctx) => rare().hostKeys(ctx.sys),
  }),
];
