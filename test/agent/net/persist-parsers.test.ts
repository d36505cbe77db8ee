// The small readers behind the renderers: the YAML subset, fnmatch, netmasks, canonical addresses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonical, parseCidr, prefixFromNetmask } from '../../../agent/net/persist/address';
import { globMatch } from '../../../agent/net/persist/files';
import { parseYaml } from '../../../agent/net/persist/yaml';

test('YAML: block and flow collections, quoting, comments, sequences at the key\'s indentation', () => {
  const text = `# comment
network:
    version: 2   # trailing comment
    ethernets:
        eth0:
            addresses:
            - 203.0.113.5/24
            - "2001:db8::5/64"
            - '198.51.100.1/32':
                label: "eth0:#1"
            nameservers: {addresses: [1.1.1.1, "2606:4700::1111"], search: []}
            match:
                macaddress: fa:16:3e:1b:2c:3d
            routes: [
              {to: default, via: 203.0.113.1}
            ]
            optional:
`;
  assert.equal(parseYaml(text, 'x.yaml'), { network: { version: '2', ethernets: { eth0: {
    addresses: ['203.0.113.5/24', '2001:db8::5/64', { '198.51.100.1/32': { label: 'eth0:#1' } }],
    nameservers: { addresses: ['1.1.1.1', '2606:4700::1111'], search: [] },
    match: { macaddress: 'fa:16:3e:1b:2c:3d' },
    routes: [{ to: 'default', via: '203.0.113.1' }],
    optional: null,
  } } } });
});

test('YAML: what it does not read is refused with the line', () => {
  assert.throws(() => parseYaml('a:\n  b: |\n    text\n', 'f'), /f: line 2: unsupported "\|"/);
  assert.throws(() => parseYaml('a:\n  - x\n  y: 1\n', 'f'), /line 3: /);
  assert.throws(() => parseYaml('a: "open\n', 'f'), /line 1: an unterminated quoted scalar/);
  assert.throws(() => parseYaml('a: 1\n---\nb: 2\n---\n', 'f'), /several documents/);
  assert.throws(() => parseYaml('a:\n\tb: 1\n', 'f'), /a tab in the indentation/);
});

test('fnmatch as systemd and ifupdown use it', () => {
  assert.ok(globMatch('en*', 'ens3'));
  assert.not.ok(globMatch('en*', 'eth0'));
  assert.ok(globMatch('eth[0-9]', 'eth4'));
  assert.not.ok(globMatch('eth[!0-3]', 'eth2'));
  assert.ok(globMatch('*', 'phoenix-ga'));
  assert.not.ok(globMatch('*.cfg', 'phoenix-ga'));
  assert.ok(globMatch('a.b?', 'a.bc'));
  assert.not.ok(globMatch('a.b', 'axb'));
});

test('netmasks, prefixes and canonical text', () => {
  assert.is(prefixFromNetmask('255.255.255.0'), 24);
  assert.is(prefixFromNetmask('255.255.255.255'), 32);
  assert.is(prefixFromNetmask('0.0.0.0'), 0);
  assert.is(prefixFromNetmask('255.0.255.0'), null);
  assert.is(prefixFromNetmask('64'), 64);
  assert.equal(canonical('2001:0DB8:0:0::1'), { address: '2001:db8::1', family: 6 });
  assert.is(canonical('010.0.0.1'), null);
  assert.equal(parseCidr('10.0.0.1', 'e', () => 8), { iface: 'e', address: '10.0.0.1', prefix: 8, family: 4 });
  assert.is(parseCidr('10.0.0.1/33', 'e'), null);
  assert.is(parseCidr('10.0.0.1/24/1', 'e'), null);
  assert.is(parseCidr('fe80::1/64', 'e')!.address, 'fe80::1');
});

test.run();
