// Whether the identity sources read now say this is another machine than the one recorded: a
// pure function, tested with a table. A source is compared only when it was read both times (a
// module not loaded this boot is no change). The hypervisor's IDs decide where there are any;
// /etc/machine-id counts only without them, since an administrator may regenerate it (or the
// system keep it in /run, new at each boot) on a machine that is no clone.

import type { SourceName, Sources } from './machine-identity';

const HYPERVISOR: SourceName[] = ['vm-generation-id', 'product-uuid'];

/** The sources whose values differ from the recorded ones: none means the same machine. */
export function changedSources(recorded: Sources, now: Sources): SourceName[] {
  const both = (k: SourceName) => recorded[k] !== undefined && now[k] !== undefined;
  const differ = (k: SourceName) => both(k) && recorded[k] !== now[k];
  if (HYPERVISOR.some(both)) return HYPERVISOR.filter(differ);
  return differ('machine-id') ? ['machine-id'] : [];
}
