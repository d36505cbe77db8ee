// Entry of dist/agent-rare.js: the handler bodies of commands a server rarely runs (the commands
// beyond qemu-ga's, network persistence), loaded by agent/rare/load.ts at their first call; their
// declarations stay in the command table of agent.js. Every module agent.js also has comes from
// it (agent/rare/shared.ts): one QgaError class. The release commands stay in agent.js: they
// are how an installation with a broken agent-rare.js is repaired.

declare const __VERSION__: string;

export { capabilities } from '../capabilities/report';
export { diagnoseLogin } from '../diagnose/login';
export { growFilesystem } from '../grow/grow';
export { hostKeys } from '../identity/host-keys';
export { detectRenderer, sameRoute } from '../net/persist';
/** Checked by the loader: a rare bundle of another version is refused. */
export const version: string = __VERSION__;
