// The crypt(3) syntax check of guest-set-user-password's `crypted` path against the real
// libxcrypt of this machine (through perl's crypt): a hash is accepted exactly when crypt() can
// recompute a hash of the same shape from it (same method, cost and salt, a hash part of the same
// length), so a stored hash can verify a password one day and never locks the account for good.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import { isCryptHash } from '../../agent/actions/password';

const B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const b64 = (n: number) => Array.from(crypto.randomBytes(n), (b) => B64[b & 63]).join('');

/**
 * libxcrypt's view of each candidate: whether crypt("x", c) keeps c's setting (method, cost, salt)
 * and makes a hash part of c's length, and c's hash part is in crypt's alphabet: then some password
 * hashes to c, and c can be stored.
 */
function libxcryptShape(candidates: string[]): boolean[] {
  const perl = `while (my $c = <STDIN>) { chomp $c;
    my $o = crypt("x", $c);
    my $ok = defined $o && $o !~ /^\\*/ && length($o) == length($c);
    if ($ok) { my $hl = $c =~ /^\\$1\\$/ ? 22 : $c =~ /^\\$6\\$/ ? 86 : $c =~ /^\\$2/ ? 31 : 43;
      $ok = substr($o, 0, length($c) - $hl) eq substr($c, 0, length($c) - $hl) && $c =~ /^\\$/
        && substr($c, -$hl) =~ m{^[./0-9A-Za-z]+$}; }
    print $ok ? "1\\n" : "0\\n"; }`;
  const r = spawnSync('perl', ['-e', perl], { input: candidates.join('\n') + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`perl: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((x) => x === '1');
}

function perlCrypt(setting: string): string {
  return spawnSync('perl', ['-e', 'print crypt("correct horse", $ARGV[0])', setting], { encoding: 'utf8' }).stdout;
}

test('real hashes of every accepted method pass; libxcrypt and the check agree on every mutation of them', () => {
  const settings = [
    `$1$${b64(8)}$`, '$1$$', `$1$a#b%$`,
    `$5$${b64(16)}$`, `$5$rounds=1000$${b64(4)}$`, '$5$$',
    `$6$${b64(16)}$`, `$6$rounds=5000$${b64(8)}$`, '$6$rounds=1234$x$', '$6$$',
    `$2b$04$${b64(21)}O`, `$2a$05$${b64(21)}e`, `$2y$04$${b64(21)}u`,
    `$y$j9T$${b64(16)}$`, `$y$jDT$${b64(20)}$`, '$y$j9T$$', `$y$j75$${b64(21)}/$`,
    `$gy$j9T$${b64(16)}$`,
  ];
  const good = settings.map(perlCrypt);
  for (const h of good) assert.ok(!h.startsWith('*') && h.length > 20, `perl made ${h} from its setting`);
  const mutations = (h: string): string[] => {
    const last = h.lastIndexOf('$');
    const out = [h, h.slice(0, -1), `${h}a`, `${h.slice(0, -1)}!`, `${h.slice(0, -1)}:`, `${h.slice(0, -1)}$`, h.slice(0, last + 1),
      `${h.slice(0, last)}$$${h.slice(last + 1)}`, h.replace(/^\$[^$]+\$/, '$9$'), `${h.slice(0, 3)}${h.slice(3).replace(/[a-z]/, ':')}`];
    if (/^\$[156]\$/.test(h) && !h.includes('rounds=')) {
      out.push(h.replace(/^(\$[156]\$)/, '$1rounds=999$'), h.replace(/^(\$[156]\$)/, '$1rounds=05000$'), h.replace(/^(\$[156]\$)/, '$1rounds=$'));
      out.push(h.replace(/^(\$[156]\$)[^$]*/, `$1${'s'.repeat(17)}`), h.replace(/^(\$[156]\$)[^$]*/, '$1a b'), h.replace(/^(\$[156]\$)[^$]*/, '$1a;b'));
    }
    if (/^\$2/.test(h)) out.push(h.replace(/^(\$2.\$)\d\d/, '$14'), h.replace(/^(\$2.\$)\d\d/, '$132'), h.replace(/^(\$2.\$)\d\d/, '$103'), h.replace(/^\$2./, '$2c'), h.slice(0, 28) + 'v' + h.slice(29));
    if (/^\$g?y\$/.test(h)) out.push(h.replace(/(\$g?y\$[^$]+\$)[^$]*/, '$1a'), h.replace(/(\$g?y\$[^$]+\$)[^$]*/, '$1ab'), h.replace(/(\$g?y\$[^$]+\$)[^$]*/, '$1abC'), h.replace(/(\$g?y\$[^$]+\$)[^$]*/, '$1abcd'), h.replace(/(\$g?y\$[^$]+\$)[^$]*/, `$1${'a'.repeat(64)}`), h.replace(/^(\$g?y\$)j9T/, '$1j9T.'), h.replace(/^(\$g?y\$)j9T/, '$1i9T'));
    return out;
  };
  const corpus = [...new Set([...good.flatMap(mutations), '$6$$$$$$$$$$', '$1$', '$5$', '$y$', '$2b$', '!', '*', '', `!${good[6]}`])];
  const oracle = libxcryptShape(corpus);
  const disagree = corpus.filter((c, i) => isCryptHash(c) !== oracle[i]).map((c) => `${c} libxcrypt:${oracle[corpus.indexOf(c)]}`);
  assert.equal(disagree, [], `${corpus.length} candidates`);
  const accepted = oracle.filter(Boolean).length;
  assert.ok(accepted >= good.length && corpus.length - accepted > 150, `${accepted} of ${corpus.length} accepted`);
  for (const h of good) assert.ok(isCryptHash(h), h);
  assert.not.ok(isCryptHash('$6$$$$$$$$$$'));
});

test.run();
