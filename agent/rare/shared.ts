// The modules agent-rare.js takes from the main bundle instead of carrying its own copy: one
// QgaError (and every other class) in both, one module state. build/build.mjs fails the build
// when agent-rare.js needs a module of agent.js that is not listed here.

import * as filesystems from '../actions/filesystems';
import * as sshKeyLine from '../actions/ssh-key-line';
import * as suspend from '../actions/suspend';
import * as schema from '../commands/schema';
import * as disks from '../facts/disks';
import * as address from '../net/address';
import * as files from '../net/persist/files';
import * as types from '../net/persist/types';
import * as accounts from '../os/accounts';
import * as host from '../os/host';
import * as system from '../os/system';
import * as userTree from '../os/user-tree';
import * as reply from '../wire/reply';

export const sharedModules = {
  'agent/actions/filesystems.ts': filesystems,
  'agent/actions/ssh-key-line.ts': sshKeyLine,
  'agent/actions/suspend.ts': suspend,
  'agent/commands/schema.ts': schema,
  'agent/facts/disks.ts': disks,
  'agent/net/address.ts': address,
  'agent/net/persist/files.ts': files,
  'agent/net/persist/types.ts': types,
  'agent/os/accounts.ts': accounts,
  'agent/os/host.ts': host,
  'agent/os/system.ts': system,
  'agent/os/user-tree.ts': userTree,
  'agent/wire/reply.ts': reply,
};
