// The /proc, /sys and /etc parsers on files captured here (linux-6.18-*) and on 3.10-era layouts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { parseLoadavg, parseProcStat } from '../../../agent/facts/cpu';
import { localMounts, parseDiskstats, parseMountinfo, usageBytes } from '../../../agent/facts/disks';
import { ipv6FromHex, parseNetDev, parseRoutes } from '../../../agent/facts/network';
import { fromDebianVersion, fromLsbRelease, fromRedhatRelease, parseOsRelease } from '../../../agent/facts/osinfo';
import { parseTzif, parsePosixTz, timezone, zoneAt } from '../../../agent/facts/time';
import { createHost } from '../../../agent/os/host';
import { parseUtmp } from '../../../agent/facts/users';
import { meminfoFields, parseMeminfo, parseVmstatOomKills } from '../../../agent/stats/counters';
import { ROOT, tempDir } from '../../helpers/agent';

const fx = (dir: string, f: string) => fs.readFileSync(path.join(ROOT, 'test/fixtures/proc', dir, f), 'utf8');

test('/proc/stat: every CPU column of a current kernel, fewer on old ones', () => {
  const now = parseProcStat(fx('linux-6.18-a', 'stat'));
  assert.is(now.cpus.length, 2);
  assert.equal(Object.keys(now.total), ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice']);
  assert.ok(now.processes! > 0 && now.ctxt! > 0);
  const old = parseProcStat(fx('linux-3.10', 'stat'));
  assert.is(old.total.steal, 11254);
  assert.is(old.cpus[1].times.user, 519956);
  const older = parseProcStat(fx('linux-3.10', 'stat.2.6.32'));
  assert.is(older.total.guestnice, undefined);
  assert.is(older.total.guest, 0);
});

test('/proc/diskstats: 11, 15 and 17 counter layouts', () => {
  const old = parseDiskstats(fx('linux-3.10', 'diskstats'));
  assert.equal(old.map((d) => d.name), ['vda', 'vda1', 'sr0', 'sdb', 'sdb1']);
  assert.equal(old[0], { name: 'vda', major: 253, minor: 0, stats: {
    'read-ios': 91523, 'read-merges': 102, 'read-sectors': 4829786, 'read-ticks': 103522, 'write-ios': 1502319, 'write-merges': 311232,
    'write-sectors': 29823418, 'write-ticks': 5233402, 'ios-pgr': 0, 'total-ticks': 1203311, 'weight-ticks': 5335802 } });
  const now = parseDiskstats(fx('linux-6.18-a', 'diskstats'));
  const vda = now.find((d) => d.name === 'vda')!;
  assert.is(Object.keys(vda.stats).length, 17);
  assert.ok('flush-ticks' in vda.stats);
  assert.equal(parseDiskstats('   3    1 hda1 35486 38030 38030 38030'), [{ name: 'hda1', major: 3, minor: 1, stats: { 'read-ios': 35486, 'read-sectors': 38030, 'write-ios': 38030, 'write-sectors': 38030 } }]);
});

test('/proc/meminfo with and without MemAvailable; /proc/vmstat oom_kill only since 4.13', () => {
  const old = parseMeminfo(fx('linux-3.10', 'meminfo'));
  assert.is(old.MemTotal, 1016232 * 1024);
  assert.is(old.MemAvailable, undefined);
  assert.is(old['Active(anon)'], 121096 * 1024);
  assert.is(old.HugePages_Total, 0);
  assert.ok(parseMeminfo(fx('linux-6.18-a', 'meminfo')).MemAvailable! > 0);
  // Blanks around a line, a CR, a value without kB, and lines that are not "Key: number".
  assert.equal(parseMeminfo('  MemTotal:  16 kB \r\nHugePages_Free:\t3\nbad line\nX: 12 MB\nE:\n5\nActive(file):    2 kB'), { MemTotal: 16384, HugePages_Free: 3, 'Active(file)': 2048 });
  assert.is(parseVmstatOomKills(fx('linux-3.10', 'vmstat')), null);
  assert.is(typeof parseVmstatOomKills(fx('linux-6.18-a', 'vmstat')), 'number');
});

test('/proc/net/dev and /proc/loadavg', () => {
  const old = parseNetDev(fx('linux-3.10', 'net_dev'));
  assert.equal(old.get('eth0'), { rxBytes: 4294967000, rxPackets: 33321883, rxErrs: 0, rxDrop: 1203, txBytes: 2112311232, txPackets: 20113321, txErrs: 0, txDrop: 0 });
  assert.ok(parseNetDev(fx('linux-6.18-a', 'net_dev')).has('lo'));
  assert.equal(parseLoadavg(fx('linux-3.10', 'loadavg')), { load1m: 0.08, load5m: 0.03, load15m: 0.05, runnable: 1, entities: 187 });
});

test('routes: IPv4 host-order hex, IPv6 in inet_ntop form', () => {
  const r = parseRoutes(fx('linux-6.18-a', 'net_route'), fx('linux-6.18-a', 'net_ipv6_route'));
  const def = r.find((x) => x.version === 4 && x.destination === '0.0.0.0')!;
  assert.is(def.gateway, '192.0.2.1');
  assert.is(def.flags, 3);
  assert.ok(r.some((x) => x.version === 6 && x.destination === '::1' && x.iface === 'lo'));
  assert.is(ipv6FromHex('fe8000000000000000fc00fffe000001'), 'fe80::fc:ff:fe00:1');
  assert.is(ipv6FromHex('00000000000000000000000000000000'), '::');
  assert.is(ipv6FromHex('20010db8000000010000000000000001'), '2001:db8:0:1::1');
  assert.is(ipv6FromHex('00000000000000000000ffff01020304'), '::ffff:1.2.3.4');
  assert.is(ipv6FromHex('20010db8000100000000000100000001'), '2001:db8:1::1:0:1');
});

test('mountinfo: escapes, and local file systems as qemu-ga counts them', () => {
  const m = parseMountinfo('36 35 98:0 /mnt1 /mnt/with\\040space rw - ext3 /dev/root rw\n40 1 0:22 / /net rw - nfs srv:/export rw\n41 1 0:23 / /smb rw - cifs //srv/share rw\n');
  assert.is(m[0].mountpoint, '/mnt/with space');
  assert.equal(localMounts(m).map((x) => x.mountpoint), ['/mnt/with space']);
  assert.ok(localMounts(parseMountinfo(fx('linux-6.18-a', 'mountinfo'))).some((x) => x.mountpoint === '/'));
  assert.equal(usageBytes({ bsize: 4096, blocks: 100, bfree: 40, bavail: 30, files: 10, ffree: 5 }), { used: 245760, total: 368640, totalPrivileged: 409600 });
});

test('os-release and the fallbacks for systems without it', () => {
  assert.equal(parseOsRelease('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\nPRETTY_NAME=\'x "y"\'\n# c\nBAD LINE\nX="a \\"b\\""'),
    { NAME: 'Debian GNU/Linux', VERSION_ID: '12', ID: 'debian', PRETTY_NAME: 'x "y"', X: 'a "b"' });
  assert.equal(fromRedhatRelease('CentOS release 6.10 (Final)\n'), { id: 'centos', name: 'CentOS', 'pretty-name': 'CentOS release 6.10 (Final)', version: '6.10 (Final)', 'version-id': '6.10' });
  assert.equal(fromRedhatRelease('Red Hat Enterprise Linux Server release 7.9 (Maipo)')!.id, 'rhel');
  assert.equal(fromLsbRelease('DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_CODENAME=trusty\nDISTRIB_DESCRIPTION="Ubuntu 14.04.6 LTS"\n'),
    { id: 'ubuntu', name: 'Ubuntu', 'pretty-name': 'Ubuntu 14.04.6 LTS', 'version-id': '14.04', version: '14.04 (trusty)' });
  assert.equal(fromDebianVersion('7.11\n'), { id: 'debian', name: 'Debian GNU/Linux', 'pretty-name': 'Debian GNU/Linux 7.11', version: '7.11', 'version-id': '7' });
});

test('timezone from real zoneinfo files: abbreviation and offset, summer and winter', () => {
  const at = (zone: string, iso: string) => zoneAt(parseTzif(fs.readFileSync(`/usr/share/zoneinfo/${zone}`))!, Date.parse(iso) / 1000, null);
  assert.equal(at('Europe/Moscow', '2026-07-01T00:00:00Z'), { utoff: 10800, isdst: false, abbr: 'MSK' });
  assert.equal(at('Europe/Berlin', '2026-07-01T00:00:00Z'), { utoff: 7200, isdst: true, abbr: 'CEST' });
  assert.equal(at('Europe/Berlin', '2026-01-01T00:00:00Z'), { utoff: 3600, isdst: false, abbr: 'CET' });
  assert.equal(at('Asia/Kolkata', '2026-01-01T00:00:00Z'), { utoff: 19800, isdst: false, abbr: 'IST' });
  assert.equal(parsePosixTz('<+0330>-3:30'), { std: { utoff: 12600, isdst: false, abbr: '+0330' }, dst: null });
  assert.equal(parsePosixTz('EST5EDT,M3.2.0,M11.1.0')!.dst, { utoff: -14400, isdst: true, abbr: 'EDT' });
});

test('timezone: the zone file is parsed once, and again when /etc/localtime is re-linked or rewritten', () => {
  const root = tempDir('tz-');
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    const localtime = path.join(root, 'etc/localtime');
    const winter = new Date('2026-01-01T00:00:00Z');
    fs.symlinkSync('/usr/share/zoneinfo/Europe/Moscow', localtime);
    const host = createHost(root);
    let reads = 0;
    const counted = { ...host, readBytes: (p: string, max?: number) => { reads++; return host.readBytes(p, max); } };
    assert.equal(timezone(counted, winter), { zone: 'MSK', offset: 10800 });
    assert.equal(timezone(counted, winter), { zone: 'MSK', offset: 10800 });
    assert.is(reads, 1, 'the second call reads no file');
    fs.rmSync(localtime);
    fs.symlinkSync('/usr/share/zoneinfo/Asia/Kolkata', localtime);
    assert.equal(timezone(counted, winter), { zone: 'IST', offset: 19800 });
    fs.rmSync(localtime);
    fs.copyFileSync('/usr/share/zoneinfo/Europe/Berlin', localtime);
    assert.equal(timezone(counted, winter), { zone: 'CET', offset: 3600 });
    assert.is(reads, 3);
  } finally { fs.rmSync(root, { recursive: true, force: true }); }
});

test('meminfo: the fields a sample uses, found line by line, are what the whole parse gives', () => {
  const keys = ['MemTotal', 'MemFree', 'MemAvailable', 'Buffers', 'Cached', 'SReclaimable', 'SwapTotal', 'SwapFree'];
  for (const dir of ['linux-3.10', 'linux-6.18-a']) {
    const text = fx(dir, 'meminfo');
    const all = parseMeminfo(text);
    assert.equal(meminfoFields(text), Object.fromEntries(keys.filter((k) => k in all).map((k) => [k, all[k]])), dir);
  }
  // Cached is not SwapCached; a field missing (MemAvailable before Linux 3.14) is left out.
  assert.equal(meminfoFields('SwapCached:  7 kB\nMemTotal: 16 kB\nCached: 2 kB\nHugePages_Total: 3\n', ['MemTotal', 'Cached', 'MemAvailable', 'HugePages_Total']),
    { MemTotal: 16384, Cached: 2048, HugePages_Total: 3 });
});

test('utmp: logged-in users, each once with the first login', () => {
  const rec = (type: number, user: string, sec: number, usec = 0) => {
    const b = Buffer.alloc(384);
    b.writeInt16LE(type, 0);
    b.write(user, 44);
    b.writeInt32LE(sec, 340);
    b.writeInt32LE(usec, 344);
    return b;
  };
  const u = parseUtmp(Buffer.concat([rec(2, 'reboot', 1), rec(7, 'root', 1700000100), rec(7, 'alice', 1700000050, 500000), rec(7, 'root', 1700000000), rec(8, 'bob', 5)]));
  assert.equal(u, [{ user: 'root', 'login-time': 1700000000 }, { user: 'alice', 'login-time': 1700000050.5 }]);
});

test.run();
