// The collector's key file: comments anywhere, errors that name the file and line (never a key).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as crypto from 'crypto';
import * as fs from 'fs';
import { KeyFileError, loadKeyFile, parseKeyFile } from '../../panel/key-file';
import { tempDir } from '../helpers/agent';

const hex = crypto.randomBytes(32).toString('hex');

test('lines, rotations and comments, whole-line and trailing', () => {
  const m = parseKeyFile(`# panel keys\nvm1 k1 ${hex}\nvm1 k2 ${hex} until=2026-12-02T12:00:00Z   # the old one\n\n  vm2 ${hex}# no space before it\n`);
  assert.is(m.get('vm1')!.length, 2);
  assert.is(m.get('vm1')![1].notAfter, Date.parse('2026-12-02T12:00:00Z'));
  assert.is(m.get('vm2')![0].keyId, '');
});

test('each mistake is named by file and line, and the key is never echoed', () => {
  const bad: Array<[string, RegExp]> = [
    ['vm1 k1 abcd', /f line 2: the key is not 64 to 256 hex digits/],
    [`vm1 k1 ${hex} extra`, /f line 2: 4 fields/],
    [`vm1 k1 ${hex} until=tomorrow`, /f line 2: until=tomorrow is not a time/],
    [`vm\u001b1 k1 ${hex}`, /f line 2: VM id/],
    [`vm1 k/1 ${hex}`, /f line 2: key id 'k\/1'/],
    [`vm1`, /f line 2: 1 fields/],
  ];
  for (const [line, want] of bad) {
    const e = (() => { try { parseKeyFile(`# x\n${line}\n`, 'f'); } catch (err) { return err as Error; } return null; })();
    assert.instance(e, KeyFileError, line);
    assert.match(e!.message, want);
    assert.not.ok(e!.message.includes(hex), 'no key material in the error');
  }
});

test('loadKeyFile: a missing file or a directory is one clear line', () => {
  const dir = tempDir();
  assert.throws(() => loadKeyFile(`${dir}/nope.keys`), (e: Error) => e instanceof KeyFileError && e.message === `${dir}/nope.keys: no such file`);
  assert.throws(() => loadKeyFile(dir), (e: Error) => e instanceof KeyFileError && e.message === `${dir}: is a directory`);
  fs.writeFileSync(`${dir}/k`, `vm1 ${hex}\n`);
  assert.is(loadKeyFile(`${dir}/k`).size, 1);
});

test.run();
