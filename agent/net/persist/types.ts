// The contract between the persistence renderers and their callers (the address commands and the
// network transaction).

import type { System } from '../../os/system';

export type RendererName = 'ifupdown' | 'netplan' | 'networkmanager' | 'networkd' | 'ifcfg';

/** ADDRESS is canonical (as Node's net module writes it); the caller has validated all fields. */
export interface Address { iface: string; address: string; prefix: number; family: 4 | 6 }

/** A static route: TO is 'default' or a canonical PREFIX (host bits clear), VIA canonical; the caller has validated all fields. */
export interface PersistRoute { iface: string; family: 4 | 6; to: string; via?: string; metric?: number }

export interface PersistChange { renderer: RendererName; file: string; action: 'added' | 'removed' | 'unchanged'; route?: string }

export interface Renderer {
  name: RendererName;
  /** Whether this system's network configuration is owned by this renderer (from files under the root only). */
  detect(sys: System): boolean;
  /** Addresses persisted for IFACE (all configured static addresses this renderer knows for it, including ones the customer wrote, not only ours). */
  list(sys: System, iface: string): Address[];
  /** Convergent: make ADDR present (or absent) in the persistent configuration; returns exactly what changed where. */
  ensure(sys: System, addr: Address, present: boolean): PersistChange;
  /** Static routes persisted for IFACE (the customer's and ours; a gateway is a 'default' route). */
  listRoutes(sys: System, iface: string): PersistRoute[];
  /** Convergent, as ensure() for an address: make ROUTE present (or absent) in the persistent configuration. */
  ensureRoute(sys: System, route: PersistRoute, present: boolean): PersistChange;
}

export type Detection = { ok: true; renderer: Renderer } | { ok: false; reason: string };

/** What a renderer configures on this system: the interface names it mentions and a test for any name. */
export interface Survey { names: string[]; claims(iface: string): boolean }

/** A renderer as the detection sees it; survey() is null when the renderer is not in use here. */
export interface Backend extends Renderer { survey(sys: System): Survey | null }

/** A refusal or failure to persist; FILE is the system path it concerns (under the root). */
export class PersistError extends Error {
  readonly file: string | undefined;
  constructor(message: string, file?: string, cause?: unknown) {
    super(message);
    this.name = 'PersistError';
    this.file = file;
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}
