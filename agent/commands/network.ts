// Network changes that undo themselves unless the panel confirms them in time
// (agent/actions/network-transaction.ts). qemu-ga has nothing like them.

import { command } from './command';
import { arrayOf, bool, int, object, optional, str } from './schema';

const address = str({ maxLength: 64, doc: 'IPv4 or IPv6 address' });
const check = object({
  gateway: optional(bool('boolean: the gateway must answer')),
  target: optional(str({ maxLength: 64, doc: 'an address that must answer' })),
}, 'object {gateway?, target?}: what must answer');

export const networkCommands = [
  command({
    name: 'phoenix-apply-network',
    description: 'Set the static addresses of an interface, and optionally its gateway and routes, as a transaction the agent reverts unless phoenix-confirm-network comes within `confirm-within` s, across restarts; live only until confirmed, then written to the network configuration (addresses, gateway and routes). qemu-ga has no such command.',
    args: object({
      interface: str({ maxLength: 15, doc: 'interface name' }),
      id: optional(str({ maxLength: 64, pattern: /^[A-Za-z0-9._:@-]{1,64}$/, doc: '1-64 of A-Z a-z 0-9 . _ : @ - (default: made)' })),
      addresses: arrayOf(str({ maxLength: 64, doc: 'ADDRESS/PREFIX' }), { maxItems: 64, doc: 'array of ADDRESS/PREFIX: all its static addresses' }),
      gateway: optional(address),
      routes: optional(arrayOf(object({ to: str({ maxLength: 64, doc: "'default' or PREFIX" }), via: optional(address), metric: optional(int({ min: 0, max: 4294967295 })) }), { maxItems: 64, doc: 'array of {to, via?, metric?}: its static routes besides the default' })),
      'confirm-within': int({ min: 10, max: 3600, doc: 'seconds, 10-3600' }),
      check: optional(check),
      persist: optional(bool('boolean, default true: written at confirmation (addresses, gateway, routes)')),
    }),
    mutating: true,
    run: (a, ctx) => ctx.network.apply(a),
  }),
  command({
    name: 'phoenix-confirm-network',
    description: 'Keep a network transaction and write it to the configuration once the `check` (or the apply\'s) answers; else refused with the reason.',
    args: object({ id: str({ maxLength: 64, doc: 'the id phoenix-apply-network returned' }), check: optional(check) }),
    mutating: true,
    run: (a, ctx) => ctx.network.confirm(a.id, a.check),
  }),
  command({
    name: 'phoenix-network-status',
    description: 'The open network transaction (`seconds-left`), the last 20 finished ones (reverted ones with the reason and what was restored), and the addresses last confirmed per interface (`panel-set`).',
    args: object({}),
    run: (_a, ctx) => ctx.network.status(),
  }),
];
