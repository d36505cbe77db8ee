// One line of the login doctor's answer: what was checked, what it found, and the evidence.

export type Status = 'ok' | 'problem' | 'warning' | 'not-checked';

export interface Finding {
  /** What was looked at: account, password, shell, home, keys, sshd, listening, ... */
  check: string;
  status: Status;
  desc: string;
  /** The lines, fields or file modes the conclusion rests on (never a password hash). */
  evidence?: string[];
}

export const ok = (check: string, desc: string, evidence?: string[]): Finding => ({ check, status: 'ok', desc, ...(evidence ? { evidence } : {}) });
export const problem = (check: string, desc: string, evidence?: string[]): Finding => ({ check, status: 'problem', desc, ...(evidence ? { evidence } : {}) });
export const warning = (check: string, desc: string, evidence?: string[]): Finding => ({ check, status: 'warning', desc, ...(evidence ? { evidence } : {}) });
export const notChecked = (check: string, desc: string): Finding => ({ check, status: 'not-checked', desc });
