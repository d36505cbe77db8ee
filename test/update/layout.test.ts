// The clean-up after an update in a tree where dpkg installed a version: dpkg's file list (as dpkg
// writes it) names the .deb's version directory, which stays; the other old versions go.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { packagedVersions, pruneVersions } from '../../supervisor/update/layout';
import { scratchDir } from '../helpers/versions';

function treeWith(versions: string[], dpkgList: string | null): string {
  const root = scratchDir('pga-layout-');
  const lib = path.join(root, 'usr/lib/phoenix-ga');
  for (const v of versions) fs.mkdirSync(path.join(lib, v, 'init'), { recursive: true });
  fs.symlinkSync(versions[versions.length - 1], path.join(lib, 'current'));
  fs.mkdirSync(path.join(lib, 'update'));
  if (dpkgList !== null) {
    fs.mkdirSync(path.join(root, 'var/lib/dpkg/info'), { recursive: true });
    fs.writeFileSync(path.join(root, 'var/lib/dpkg/info/phoenix-ga.list'), dpkgList);
  }
  return lib;
}

const LIST = ['/.', '/usr', '/usr/lib', '/usr/lib/phoenix-ga', '/usr/lib/phoenix-ga/0.9.0', '/usr/lib/phoenix-ga/0.9.0/init',
  '/usr/lib/phoenix-ga/0.9.0/init/phoenix-ga.sh', '/usr/lib/phoenix-ga/0.9.0/node', '/usr/sbin/phoenix-ga', ''].join('\n');

test('packagedVersions: the version directories in dpkg\'s file list, none without one or outside a system tree', () => {
  assert.equal(packagedVersions(treeWith(['0.9.0'], LIST)), ['0.9.0']);
  assert.equal(packagedVersions(treeWith(['0.9.0'], null)), []);
  assert.equal(packagedVersions(scratchDir('pga-lib-')), []);
});

test('pruneVersions keeps the new, the previous and dpkg\'s version; removes the rest', () => {
  const lib = treeWith(['0.9.0', '0.9.1', '0.9.2', '0.9.3'], LIST);
  assert.equal(pruneVersions(lib, ['0.9.3', '0.9.2']), ['0.9.1']);
  assert.equal(fs.readdirSync(lib).sort(), ['0.9.0', '0.9.2', '0.9.3', 'current', 'update']);
  const plain = treeWith(['0.9.0', '0.9.1', '0.9.2'], null);
  assert.equal(pruneVersions(plain, ['0.9.2', '0.9.1']), ['0.9.0']);
});

test.run();
