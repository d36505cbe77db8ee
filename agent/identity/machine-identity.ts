// What tells this machine from another: the hypervisor's VM generation ID and SMBIOS product UUID,
// and the OS's /etc/machine-id, normalised so that only a real change compares unequal. Kept as
// they are in a root-only file (the product UUID is root's to read in sysfs too), so `cat` shows
// what changed; no digest, since loading Node's crypto would cost every worker start 20-40 ms.
// Which changes mean a clone is decided in identity-change.ts.

import type { Host } from '../os/host';
import type { System } from '../os/system';

export type SourceName = 'vm-generation-id' | 'product-uuid' | 'machine-id';
export type Sources = Partial<Record<SourceName, string>>;

/**
 * QEMU's vmgenid device as its fw_cfg file (the qemu_fw_cfg module): the 16-byte GUID at offset 40.
 * Linux's vmgenid driver reads the ID but offers it to no one (no sysfs attribute, only a uevent).
 */
export const VMGENID_FILE = '/sys/firmware/qemu_fw_cfg/by_name/etc/vmgenid_guid/raw';
const VMGENID_OFFSET = 40;
export const PRODUCT_UUID_FILE = '/sys/class/dmi/id/product_uuid';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Firmware that fills in no UUID: every machine of that make would look the same.
const PLACEHOLDERS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '03000200-0400-0500-0006-000700080009']);

/** The product UUID as the hypervisor sets it, or null when there is none worth comparing. */
export function productUuid(text: string | null): string | null {
  const v = (text ?? '').trim().toLowerCase();
  return UUID.test(v) && !PLACEHOLDERS.has(v) ? v : null;
}

/** The generation ID from the fw_cfg file's bytes, or null (absent, short, or all zero). */
export function vmGenerationId(raw: Buffer | null): string | null {
  const id = raw && raw.length >= VMGENID_OFFSET + 16 ? raw.subarray(VMGENID_OFFSET, VMGENID_OFFSET + 16) : null;
  return id && id.some((b) => b !== 0) ? id.toString('hex') : null;
}

/** /etc/machine-id: 32 lower-case hex digits; empty or "uninitialized" (first boot pending) is none. */
export function machineId(text: string | null): string | null {
  const v = (text ?? '').trim();
  return /^[0-9a-f]{32}$/.test(v) ? v : null;
}

/** The sources readable now: the hypervisor's from the live system, machine-id from the os-root tree. */
export function readIdentity(host: Host, sys: System): Sources {
  const values: Array<[SourceName, string | null]> = [
    // Only the bytes up to the GUID: without DMA, fw_cfg is read a byte per port access.
    ['vm-generation-id', vmGenerationId(host.readBytes(VMGENID_FILE, VMGENID_OFFSET + 16))],
    ['product-uuid', productUuid(host.read(PRODUCT_UUID_FILE))],
    ['machine-id', machineId(sys.readText('/etc/machine-id'))],
  ];
  const out: Sources = {};
  for (const [name, v] of values) if (v) out[name] = v;
  return out;
}
