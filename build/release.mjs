// `npm run release -- --key KEYFILE [--out DIR] ...` and `npm run release -- keygen --out KEYFILE`:
// bundles build/release-cli.ts (the release format is the agent's own TypeScript) and runs it.
import * as esbuild from 'esbuild';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.test-out', 'release-cli.cjs');
await esbuild.build({ absWorkingDir: root, entryPoints: ['build/release-cli.ts'], outfile: out, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' });
const { releaseMain } = createRequire(import.meta.url)(out);
process.exitCode = releaseMain(process.argv.slice(2), root);
