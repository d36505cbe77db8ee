// Side by side: each virsh step's outcome with qemu-ga and with phoenix-ga, whether they are the
// same, and why where they differ. A difference is allowed only when it is listed here with its
// reason (a deliberate difference documented in docs/protocol.md); any other one fails the test.
// The table is written to docs/compatibility.md by test/e2e/libvirt.test.ts.

import type { Outcome } from './virsh-steps';

export interface Row { step: string; q: Outcome; p: Outcome; ms: { q: number; p: number } }

const OWED = '[protocol.md: A worker that dies owes its replies](protocol.md#a-worker-that-dies-owes-its-replies)';
const KILLED = `qemu-ga's death closes the port and libvirt fails the call at once; phoenix-ga's supervisor holds the port and answers what the dead worker owed`;

// The commands the shipped configuration disables, and the difference that is not theirs.
const BLOCKED_BY_DEFAULT = /^guest-(exec|exec-status|file-(open|close|read|write|seek|flush))$/;
const UNEXPECTED = 'enabled on qemu-ga, not on phoenix-ga, and not disabled by its shipped configuration';

/** The difference where the same interfaces and addresses come in another order. */
const ORDER_ONLY = 'the same interfaces and addresses in another order';
const REAL_FIRST = 'the interface of the default route first, loopback last (`interfaces-order = real-first`, the default; `as-is` gives qemu-ga\'s order): ' +
  '[protocol.md](protocol.md#deliberate-differences-from-qemu-ga), [configuration.md](configuration.md)';

/** The reason for each difference that is meant to be there, by step name. */
export const DOCUMENTED: Record<string, string> = {
  [`qemu-agent-command '{"execute":"guest-info"}'`]: 'phoenix-ga reports its own version; guest-exec and the guest-file-* commands are disabled in the shipped configuration; ' +
    'it has commands qemu-ga 7.2 lacks ([protocol.md](protocol.md#commands-blocked-in-the-shipped-configuration))',
  'guestinfo --interface': REAL_FIRST,
  'domifaddr --source agent': REAL_FIRST,
  'get-user-sshkeys root (no file)': "a user without authorized_keys has no keys, which is not an error ([protocol.md](protocol.md#deliberate-differences-from-qemu-ga))",
  'get-user-sshkeys root': 'keys in file order; qemu-ga 7.2 lists them in reverse ([security.md](security.md#ssh-keys))',
  'agent killed 3 times during a stream of virsh calls': `${KILLED}: a call in flight gets an error that names the restart, a later one waits for the new worker instead of failing (${OWED})`,
  'agent killed during set-user-password, before it read the request (stopped, then killed)':
    `${KILLED}; nothing was owed, so the next worker reads libvirt's guest-sync and the command and runs it (${OWED})`,
  'agent killed during set-user-password, while chpasswd runs': `${KILLED}, naming the death and what is known of the outcome (${OWED})`,
  'agent killed during set-user-password, after /etc/shadow was written, before the reply': `${KILLED}, naming the death and what is known of the outcome (${OWED})`,
};

/** Null when the two outcomes are the same, else what differs. */
export function difference(r: Row): string | null {
  if (r.step.includes('guest-info')) {
    const [q, p] = [r.q.data as string[], r.p.data as string[]];
    const lacking = q.filter((c) => !p.includes(c));
    const extra = p.filter((c) => !q.includes(c));
    if (!lacking.length && !extra.length && r.q.text === r.p.text) return null;
    const unexpected = lacking.filter((c) => !BLOCKED_BY_DEFAULT.test(c));
    if (unexpected.length) return `${UNEXPECTED}: ${unexpected.join(', ')}`;
    return `version; enabled only on qemu-ga: ${lacking.join(', ') || 'none'}; only on phoenix-ga: ${extra.join(', ') || 'none'}`;
  }
  if (r.q.ok === r.p.ok && (r.q.key ?? r.q.text) === (r.p.key ?? r.p.text) && (r.q.ok || r.q.text === r.p.text)) return null;
  const unordered = (o: Outcome) => (o.data as { unordered?: string } | undefined)?.unordered;
  if (r.q.ok && r.p.ok && unordered(r.q) !== undefined && unordered(r.q) === unordered(r.p)) return ORDER_ONLY;
  return r.q.ok !== r.p.ok ? `${r.q.ok ? 'qemu-ga succeeds' : 'qemu-ga fails'}, ${r.p.ok ? 'phoenix-ga succeeds' : 'phoenix-ga fails'}` : 'the results differ';
}

/** The documented reason for difference D of step STEP, or null when D is not the documented one. */
function reason(step: string, d: string): string | null {
  const why = DOCUMENTED[step];
  return why && (why === REAL_FIRST) === (d === ORDER_ONLY) && !d.startsWith(UNEXPECTED) ? why : null;
}

/** Differences not listed in DOCUMENTED, and steps where phoenix-ga fails but qemu-ga does not. */
export function problems(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    const d = difference(r);
    if (r.q.ok && !r.p.ok) out.push(`${r.step}: qemu-ga: ${r.q.text}; phoenix-ga FAILS: ${r.p.text}`);
    else if (d && !reason(r.step, d)) out.push(`${r.step}: undocumented difference (${d}): qemu-ga: ${r.q.text} | phoenix-ga: ${r.p.text}`);
  }
  return out;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows: Row[]): string {
  const lines = ['| virsh | qemu-ga 7.2 | phoenix-ga | same? |', '|---|---|---|---|'];
  for (const r of rows) {
    const d = difference(r);
    const same = d ? `different: ${reason(r.step, d) ?? `**not documented** (${d})`}` : 'same';
    const res = (o: Outcome) => `${o.ok ? '' : '**error**: '}${o.text}`;
    lines.push(`| \`${cell(r.step)}\` | ${cell(res(r.q))} | ${cell(res(r.p))} | ${cell(same)} |`);
  }
  return lines.join('\n');
}
