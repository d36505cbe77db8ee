// guest-get-osinfo on a tree: the distribution fields follow os-release when it is replaced or
// rewritten (an upgrade), though the reply is kept between calls.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { osInfo } from '../../../agent/facts/osinfo';
import { createHost } from '../../../agent/os/host';
import { RawJson } from '../../../agent/wire/json-write';
import { tempDir } from '../../helpers/agent';

const release = (id: string) => `PRETTY_NAME="Debian GNU/Linux ${id}"\nNAME="Debian GNU/Linux"\nVERSION_ID="${id}"\nID=debian\n`;
const reply = (r: unknown) => JSON.parse(r instanceof RawJson ? r.text : JSON.stringify(r));

test('an upgrade shows at once: os-release renamed over, rewritten in place, or gone for /usr/lib/os-release', () => {
  const root = tempDir('osinfo-');
  const write = (p: string, text: string) => { fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }); fs.writeFileSync(path.join(root, p), text); };
  write('/proc/sys/kernel/osrelease', '6.1.0-test\n');
  write('/etc/os-release', release('12'));
  write('/usr/lib/os-release', release('11'));
  const host = createHost(root);
  const first = reply(osInfo(host));
  assert.equal([first['kernel-release'], first.id, first['version-id'], first['pretty-name']], ['6.1.0-test', 'debian', '12', 'Debian GNU/Linux 12']);
  assert.equal(reply(osInfo(host)), first);
  // dpkg writes the new file beside the old one and renames it over.
  write('/etc/.os-release.new', release('13'));
  fs.renameSync(path.join(root, '/etc/.os-release.new'), path.join(root, '/etc/os-release'));
  assert.is(reply(osInfo(host))['version-id'], '13');
  // An editor or a script that writes in place: same inode, another size.
  write('/etc/os-release', release('13.1'));
  assert.is(reply(osInfo(host))['version-id'], '13.1');
  fs.rmSync(path.join(root, '/etc/os-release'));
  assert.is(reply(osInfo(host))['version-id'], '11');
  fs.rmSync(root, { recursive: true, force: true });
});

test.run();
