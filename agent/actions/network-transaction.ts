// phoenix-apply-network / phoenix-confirm-network / phoenix-network-status: a change of an
// interface's addresses (and gateway, routes) that undoes itself unless the panel confirms it in
// time. The change is live only until confirmed: the configuration (addresses, gateway and routes)
// is written at confirmation, so a reboot before it boots into the old configuration. The record
// (agent/net/transaction-store.ts) is written before each step, so a worker or supervisor killed
// at any moment finds the transaction on restart: past its deadline it is reverted at once,
// before it the timer is armed again (agent/net/deadline.ts: no clock jump moves it).

// crypto only for a new transaction's id: loaded then, not at the worker's start.
import type * as cryptoModule from 'crypto';
import fs = require('fs');
import { copyConfigFiles, restoreConfigFiles } from '../net/config-files';
import { BootClock, deadlineIn, secondsLeft } from '../net/deadline';
import { cidrOf, convergeInterface, readInterface } from '../net/interface-state';
import type { PersistChange, PersistRoute, Renderer } from '../net/persist';
import type { RendererName } from '../net/persist/types';
import { checkReachable } from '../net/reachability';
import type { Route } from '../net/routes';
import { checkTxnArgs, routesAsked, targetState, TxnArgs } from '../net/transaction-plan';
import type { TransactionStore, Txn } from '../net/transaction-store';
import type { System } from '../os/system';
import { rare } from '../rare/load';
import { QgaError } from '../wire/reply';
import { reloadAfter } from './ip-addresses';

const fail = (desc: string): never => { throw new QgaError('GenericError', desc); };
const now = (): string => new Date().toISOString();
const errText = (e: unknown): string => (e instanceof QgaError ? e.desc : (e as Error).message);

export interface NetworkTransactions {
  apply(a: TxnArgs): Promise<unknown>;
  confirm(id: string, check: Txn['check'] | undefined): Promise<unknown>;
  status(): unknown;
  /** Refuses a change of IFACE by another command while a transaction on it is open. */
  assertFree(iface: string): void;
  /** The addresses the panel last set on IFACE (a confirmed transaction), or null. */
  panelSet(iface: string): Txn['after']['addresses'] | null;
  /** At worker start: finishes what a dead worker left, and arms the timer. */
  start(): Promise<void>;
}

export interface TransactionDeps {
  sys: System;
  store: TransactionStore;
  clock: BootClock;
  /** Runs F in turn with the mutating commands (a revert never interleaves with one). */
  serial<T>(f: () => Promise<T>): Promise<T>;
  log(level: string, msg: string): void;
  frozen(): boolean;
}

function summary(t: Txn): Record<string, unknown> {
  return {
    id: t.id, interface: t.interface, state: t.state, created: t.created, 'confirm-within': t.confirmWithin, deadline: t.deadline.wall,
    before: { addresses: t.before.addresses.map(cidrOf), routes: t.before.routes }, after: { addresses: t.after.addresses.map(cidrOf), routes: t.after.routes },
    persist: t.persist, ...(t.applied ? { applied: t.applied } : {}), ...(t.confirmed ? { confirmed: t.confirmed } : {}), ...(t.reverted ? { reverted: t.reverted } : {}),
  };
}

export function networkTransactions(d: TransactionDeps): NetworkTransactions {
  const { sys, store, clock } = d;
  let timer: NodeJS.Timeout | null = null;

  const rendererFor = (iface: string): Renderer => {
    const det = rare().detectRenderer(sys, iface);
    return det.ok ? det.renderer : fail(`cannot tell how to persist the change: ${det.reason}; nothing was changed (for a live-only change: "persist": false)`);
  };

  // Recorded with the copies; detected again only for records of older versions.
  const filesRenderer = (t: Txn): RendererName => t.filesRenderer ?? rendererFor(t.interface).name;

  /** Restores the live state (and files a half-done confirmation wrote), records why, and saves. */
  async function revert(t: Txn, reason: string): Promise<Txn> {
    t.state = 'reverting';
    store.save();
    // An interface that is gone (unplugged) cannot be restored: that is recorded, not retried forever.
    const live = await convergeInterface(sys, t.interface, t.before, false)
      .catch((e) => ({ addresses: { added: [], removed: [] }, routes: { added: [], removed: [] }, errors: [errText(e)] }));
    let files: string[] = [];
    if (t.files && t.persist) {
      try { files = restoreConfigFiles(sys, filesRenderer(t), t.files); } catch (e) { live.errors.push(errText(e)); }
    }
    t.state = 'reverted';
    t.reverted = { at: now(), reason, live, files };
    store.finish(t);
    d.log('warn', `network transaction ${t.id} reverted (${reason}): ${JSON.stringify(live)}`);
    return t;
  }

  /** Reverts what is due, in turn with the commands; the seconds to wait before trying again. */
  const attempt = (): Promise<number> => d.serial(due).then(() => 0, (e) => { d.log('error', `network transaction revert: ${errText(e)}`); return 5; });

  /** FLOOR: seconds to wait at least (after a failed attempt, so a full disk is not retried in a loop). */
  function arm(floor = 0): void {
    if (timer) clearTimeout(timer);
    timer = null;
    const t = store.data.pending;
    if (!t) return;
    const left = secondsLeft(clock, t.deadline);
    // Checked again on waking: a suspended server's timers fire late, never early. While the file
    // systems are frozen the record cannot be written, so a revert waits for the thaw.
    timer = setTimeout(() => {
      timer = null;
      void attempt().then(arm);
    }, Math.max(floor, d.frozen() ? 1 : 0, Math.min(left ?? 0, 60)) * 1000 + 20);
    timer.unref();
  }

  async function due(): Promise<void> {
    const t = store.data.pending;
    if (!t || d.frozen()) return;
    const left = secondsLeft(clock, t.deadline);
    if (left === null) {
      // The server rebooted: it came up from the configuration files, which hold the old state.
      t.state = 'reverted';
      t.reverted = { at: now(), reason: 'the server rebooted before confirmation and booted with the previous configuration', live: null, files: [] };
      if (t.files && t.persist) {
        try { t.reverted.files = restoreConfigFiles(sys, filesRenderer(t), t.files); } catch (e) { d.log('error', `network transaction ${t.id}: restoring the files failed: ${errText(e)}`); }
      }
      store.finish(t);
      return;
    }
    if (t.state === 'applying') await revert(t, 'the agent stopped while applying it');
    else if (t.state === 'reverting') await revert(t, 'the agent stopped while reverting it');
    else if (left <= 0) await revert(t, `not confirmed within ${t.confirmWithin} s`);
  }

  async function apply(a: TxnArgs): Promise<unknown> {
    const addrs = checkTxnArgs(a);
    if (!fs.existsSync(`/sys/class/net/${a.interface}`)) fail(`Parameter 'interface': there is no interface '${a.interface}'`);
    const open = store.data.pending;
    if (a.id !== undefined && store.data.history.some((h) => h.id === a.id)) fail(`Parameter 'id': network transaction '${a.id}' already exists; use a new id for a new transaction`);
    if (open) fail(`network transaction ${open.id} on ${open.interface} is not confirmed yet (deadline ${open.deadline.wall}); confirm it or let it revert first`);
    if (a.persist !== false) rendererFor(a.interface);
    const before = await readInterface(sys, a.interface);
    const after = targetState(a, addrs, before);
    const t: Txn = {
      id: a.id ?? `net-${(require('crypto') as typeof cryptoModule).randomBytes(6).toString('hex')}`, interface: a.interface, state: 'applying', created: now(), confirmWithin: a['confirm-within'],
      deadline: deadlineIn(clock, a['confirm-within']), before, after, persist: a.persist !== false, check: a.check ?? null, routesAsked: routesAsked(a, after),
    };
    store.data.pending = t;
    try { store.save(); } catch (e) { store.data.pending = null; fail(`the transaction cannot be recorded (${errText(e)}); nothing was changed`); }
    try {
      t.applied = await convergeInterface(sys, a.interface, after, true);
    } catch (e) {
      const r = await revert(t, `applying failed: ${errText(e)}`);
      fail(`applying the change to ${a.interface} failed: ${errText(e)}; the previous state was restored${r.reverted!.live!.errors.length ? ` except: ${r.reverted!.live!.errors.join('; ')}` : ''}`);
    }
    t.state = 'pending';
    store.save();
    arm();
    return summary(t);
  }

  async function persist(t: Txn): Promise<PersistChange[]> {
    const renderer = rendererFor(t.interface);
    t.files = copyConfigFiles(sys, renderer.name, t.interface);
    t.filesRenderer = renderer.name;
    t.state = 'confirming';
    store.save();
    const changes: PersistChange[] = [];
    try {
      const gone = t.before.addresses.filter((b) => !t.after.addresses.some((x) => x.address === b.address && x.prefix === b.prefix));
      const added = t.after.addresses.filter((x) => !t.before.addresses.some((b) => x.address === b.address && x.prefix === b.prefix));
      for (const a of added) changes.push(renderer.ensure(sys, { iface: t.interface, ...a }, true));
      for (const a of gone) changes.push(renderer.ensure(sys, { iface: t.interface, ...a }, false));
      changes.push(...persistRoutes(renderer, t));
    } catch (e) {
      const restored = restoreConfigFiles(sys, renderer.name, t.files);
      delete t.files;
      delete t.filesRenderer;
      t.state = 'pending';
      store.save();
      fail(`not confirmed: persisting failed: ${errText(e)}; ${restored.length ? `restored ${restored.join(', ')}` : 'no file was changed'}; the change stays live until its deadline ${t.deadline.wall}`);
    }
    for (const c of changes) await reloadAfter(sys, c);
    return changes;
  }

  /** The routes the apply named made present; the ones they replace (live before, or configured) made absent, removals first. */
  function persistRoutes(renderer: Renderer, t: Txn): PersistChange[] {
    const asked = t.routesAsked;
    if (!asked || (!asked.defaults.length && !asked.others)) return [];
    const as = (r: Route | PersistRoute): PersistRoute => ({ iface: t.interface, family: r.family, to: r.to, ...(r.via ? { via: r.via } : {}), ...(r.metric !== undefined ? { metric: r.metric } : {}) });
    const replaced = (r: PersistRoute) => (r.to === 'default' ? asked.defaults.includes(r.family) : asked.others);
    const wanted = asked.routes.map(as);
    const { sameRoute } = rare();
    const gone: PersistRoute[] = [];
    for (const r of [...t.before.routes.map(as), ...renderer.listRoutes(sys, t.interface).map(as)]) {
      if (replaced(r) && !t.after.routes.some((x) => sameRoute(as(x), r)) && !gone.some((x) => sameRoute(x, r))) gone.push(r);
    }
    return [...gone.map((r) => renderer.ensureRoute(sys, r, false)), ...wanted.map((r) => renderer.ensureRoute(sys, r, true))];
  }

  async function confirm(id: string, check: Txn['check'] | undefined): Promise<unknown> {
    const t = store.data.pending;
    if (!t || t.id !== id) {
      const old = store.data.history.find((h) => h.id === id);
      if (!old) fail(`Parameter 'id': there is no network transaction '${id}'${t ? ` (the open one is ${t.id})` : ''}`);
      if (old!.state === 'confirmed') return summary(old!);
      fail(`network transaction ${id} was ${old!.state} at ${old!.reverted?.at ?? old!.created} (${old!.reverted?.reason ?? 'failed'}); it cannot be confirmed`);
    }
    const left = secondsLeft(clock, t!.deadline);
    if (left === null || left <= 0) {
      await due();
      fail(`network transaction ${id} expired at ${t!.deadline.wall} and was reverted`);
    }
    const c = check ?? t!.check;
    const targets = [...(c?.gateway ? [t!.after.routes.find((r) => r.to === 'default' && r.via)?.via ?? fail(`cannot check the gateway: ${t!.interface} has no default route through a gateway`)] : []), ...(c?.target ? [c.target] : [])];
    for (const target of targets) {
      const r = await checkReachable(sys, target);
      if (!r.reachable) fail(`not confirmed: ${r.why}; the change stays live until its deadline ${t!.deadline.wall}, then it is reverted`);
    }
    const persisted = t!.persist ? await persist(t!) : [];
    t!.state = 'confirmed';
    t!.confirmed = { at: now(), persisted };
    store.data.confirmed[t!.interface] = { id, at: t!.confirmed.at, addresses: t!.after.addresses };
    store.finish(t!);
    arm();
    return summary(t!);
  }

  return {
    apply,
    confirm,
    status: () => ({
      pending: store.data.pending ? { ...summary(store.data.pending), 'seconds-left': Math.max(0, Math.round(secondsLeft(clock, store.data.pending.deadline) ?? 0)) } : null,
      history: store.data.history.map(summary),
      'panel-set': store.data.confirmed,
    }),
    assertFree(iface) {
      const t = store.data.pending;
      if (t && t.interface === iface) fail(`${iface} has an open network transaction ${t.id} (deadline ${t.deadline.wall}); confirm it or let it revert first`);
    },
    panelSet: (iface) => store.data.confirmed[iface]?.addresses ?? null,
    async start() {
      const t = store.data.pending;
      if (!t) return;
      if (t.state === 'confirming' && t.files) {
        // Killed while writing the files: put them back; the panel's retry of the confirmation writes them again.
        try { restoreConfigFiles(sys, filesRenderer(t), t.files); } catch (e) { d.log('error', `network transaction ${t.id}: ${errText(e)}`); }
        delete t.files;
        delete t.filesRenderer;
        t.state = 'pending';
        store.save();
      }
      arm(await attempt());
    },
  };
}
