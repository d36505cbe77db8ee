// A small system tree for the agent's --os-root: accounts, shadow, hostname files, homes.
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './agent';

export interface Tree { root: string; file(p: string): string; read(p: string): string; write(p: string, text: string, mode?: number): void }

export function makeTree(): Tree {
  const root = tempDir('tree-');
  const file = (p: string) => path.join(root, p);
  const write = (p: string, text: string, mode = 0o644) => { fs.mkdirSync(path.dirname(file(p)), { recursive: true }); fs.writeFileSync(file(p), text, { mode }); fs.chmodSync(file(p), mode); };
  write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1001:1001:Alice:/home/alice:/bin/bash\nbob:x:1002:1002::/home/bob:/bin/sh\n');
  write('/etc/group', 'root:x:0:\ndaemon:x:1:\nalice:x:1001:\nbob:x:1002:\n');
  write('/etc/shadow', 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\nbob:!:19000:0:99999:7:::\n', 0o640);
  write('/etc/hostname', 'old-name\n');
  write('/etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\told-name\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\n');
  for (const [home, uid] of [['/root', 0], ['/home/alice', 1001], ['/home/bob', 1002]] as const) {
    fs.mkdirSync(file(home), { recursive: true, mode: 0o750 });
    fs.chownSync(file(home), uid, uid);
  }
  return { root, file, read: (p) => fs.readFileSync(file(p), 'utf8'), write };
}

/** A tree whose network configuration ifupdown owns: eth0 by DHCP, interfaces.d sourced. */
export function ifupdownTree(): Tree {
  const t = makeTree();
  t.write('/sbin/ifup', '#!/bin/sh\n', 0o755);
  t.write('/etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n');
  fs.mkdirSync(t.file('/etc/network/interfaces.d'), { recursive: true });
  return t;
}
