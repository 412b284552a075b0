'use strict';
// Key-value operations: implicit (one-operation transactions) and inside explicit ones,
// iterators, lists and the transaction contract as the binding exposes it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, inmem } = require('./helpers');

const B = (s) => Buffer.from(s);

test('implicit put, get, getEntry, delete and versions', (t) => {
  const { db } = freshDb(t);
  const v1 = db.put('k', 'one');
  assert.equal(v1, 1);
  assert.deepEqual(db.get('k'), B('one'));
  assert.deepEqual(db.getEntry('k'), { value: B('one'), version: 1 });
  const v2 = db.put(B('k'), new Uint8Array([1, 2, 3]));
  assert.equal(v2, 2);
  assert.deepEqual(db.get('k'), Buffer.from([1, 2, 3]));
  assert.equal(db.delete('k'), 3);
  assert.equal(db.get('k'), undefined);
  assert.equal(db.getEntry('missing'), undefined);
});

test('values may be empty, binary, or large; keys are bytes', (t) => {
  const { db } = freshDb(t);
  db.put('empty', '');
  assert.deepEqual(db.get('empty'), Buffer.alloc(0));
  const bin = Buffer.from([0, 255, 0, 1]);
  db.put(bin, bin);
  assert.deepEqual(db.get(bin), bin);
  const big = Buffer.alloc(1 << 20, 7);
  db.put('big', big);
  assert.deepEqual(db.get('big'), big);
  const f64 = new Float64Array([1.5, -2]);
  db.put('f', f64);
  assert.deepEqual(db.get('f'), Buffer.from(f64.buffer));
  db.put('é', 'ü'); // strings are UTF-8
  assert.deepEqual(db.get(B('é')), B('ü'));
});

test('strings are copied whole when a multi-byte character straddles the inline buffer', (t) => {
  const { db } = freshDb(t);
  // 197 ASCII bytes, then a 3-byte character across bytes 197-199: keys differing after it
  // must stay distinct, and values must round-trip byte for byte.
  const k1 = 'a'.repeat(197) + '€-first';
  const k2 = 'a'.repeat(197) + '€-second';
  db.put(k1, 'one');
  db.put(k2, 'two');
  assert.deepEqual(db.get(k1), B('one'));
  assert.deepEqual(db.get(k2), B('two'));
  assert.equal(db.list({ prefix: 'a'.repeat(197) }).length, 2);
  const v = 'b'.repeat(198) + 'é' + 'x'.repeat(1000);
  db.put('v', v);
  assert.deepEqual(db.get('v'), B(v));
  // Every offset around the 200-byte buffer, with characters of 1 to 4 bytes.
  for (const ch of ['z', 'é', '€', '😀']) {
    for (let pad = 190; pad < 205; pad++) {
      const s = 'p'.repeat(pad) + ch + 'tail';
      db.put(s, s);
      assert.deepEqual(db.get(B(s)), B(s), `pad ${pad} + ${JSON.stringify(ch)}`);
    }
  }
  // Names read into small buffers: a character after the name must not be dropped.
  const run = inmem.newRunId();
  assert.equal(inmem.isRunId(run + 'é'), false);
  assert.equal(inmem.isRunId(run + '😀'), false);
  assert.throws(() => db.runs.list({ parent: 'none😀' }), inmem.InvalidArgumentError);
  assert.throws(() => db.wait('state😀', null, 'k'), inmem.InvalidArgumentError);
});

test('runs scope keys: the same key in two runs and the shared scope are distinct', (t) => {
  const { db } = freshDb(t);
  const r1 = inmem.newRunId();
  const r2 = inmem.newRunId();
  db.put('k', 'shared');
  db.put('k', 'r1', { run: r1 });
  db.put('k', 'r2', { run: inmem.runIdBytes(r2) });
  assert.deepEqual(db.get('k'), B('shared'));
  assert.deepEqual(db.get('k', { run: r1 }), B('r1'));
  assert.deepEqual(db.get('k', { run: r2 }), B('r2'));
  assert.ok(inmem.isRunId(r1));
  assert.ok(!inmem.isRunId('nope'));
  assert.ok(r2 > r1, 'run ids are time-ordered');
  assert.equal(inmem.formatRunId(inmem.runIdBytes(r1)), r1);
});

test('implicit cas: 0 means absent; a stale version throws ConflictError', (t) => {
  const { db } = freshDb(t);
  const v = db.cas('lock', 0, 'me');
  assert.equal(db.get('lock').toString(), 'me');
  assert.throws(() => db.cas('lock', 0, 'you'), inmem.ConflictError);
  const v2 = db.cas('lock', v, 'you');
  assert.ok(v2 > v);
  assert.throws(() => db.cas('lock', v, 'again'), (e) => e.code === 'INMEM_CONFLICT');
});

test('implicit cas: the ConflictError carries the conflict and says what was expected', (t) => {
  const { db } = freshDb(t);
  const run = inmem.newRunId();
  db.put('k', 'one', { run });
  const v2 = db.put('k', 'two', { run });
  assert.throws(() => db.cas('k', v2 - 1, 'x', { run }), (e) => {
    assert.ok(e instanceof inmem.ConflictError);
    assert.deepEqual(e.conflict,
      { rule: 'cas', run, key: B('k'), expected: v2 - 1, found: v2, primitive: 'kv' });
    assert.match(e.message, new RegExp(`expected version ${v2 - 1}, found ${v2}$`));
    return true;
  });
  assert.throws(() => db.cas('absent', 3, 'x'), (e) => e.conflict.found === 0 && e.conflict.run === null);
});

test('ttl: an expired value is invisible, and sweep removes it', async (t) => {
  const { db } = freshDb(t, { ttlSweepIntervalMs: 0 });
  db.put('short', 'x', { ttl: 1 });
  db.put('long', 'y', { ttl: 3600000 });
  // Wait (bounded) until the millisecond has passed: what is checked is visibility, not speed.
  for (let i = 0; i < 1000 && db.get('short') !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(db.get('short'), undefined);
  assert.deepEqual(db.get('long'), B('y'));
  assert.equal(db.sweep(), 1);
  assert.equal(await db.sweepAsync(), 0);
  // the sweeper's commit moved the version but is its own, not one of the user's commits
  const s = db.stats();
  assert.deepEqual([s.expiredSwept, s.commits, s.version], [1, 2, 3]);
  const tx = db.begin();
  tx.put('t', 'v', { ttl: 3600000 });
  tx.commit();
  tx.free();
  assert.deepEqual(db.get('t'), B('v'));
});

test('list: prefix, cursor and limit, in key order', (t) => {
  const { db } = freshDb(t);
  for (const k of ['a/3', 'a/1', 'b/1', 'a/2']) db.put(k, k.toUpperCase());
  const all = db.list({ prefix: 'a/' });
  assert.deepEqual(all.map((e) => e.key.toString()), ['a/1', 'a/2', 'a/3']);
  assert.deepEqual(all[0].value, B('A/1'));
  assert.ok(all.every((e) => e.version > 0));
  const page = db.list({ prefix: 'a/', after: 'a/1', limit: 1 });
  assert.deepEqual(page.map((e) => e.key.toString()), ['a/2']);
  const tx = db.begin({ readOnly: true });
  assert.deepEqual(tx.list({ prefix: 'b' }).map((e) => e.key.toString()), ['b/1']);
  tx.free();
});

test('snapshot isolation: a transaction does not see later commits, and sees its own writes', (t) => {
  const { db } = freshDb(t);
  db.put('x', '1');
  const tx = db.begin();
  db.put('x', '2');
  db.put('new', 'n');
  assert.deepEqual(tx.get('x'), B('1'));
  assert.equal(tx.get('new'), undefined);
  tx.put('mine', 'm');
  tx.delete('x');
  assert.deepEqual(tx.get('mine'), B('m'));
  assert.equal(tx.get('x'), undefined);
  assert.equal(tx.getEntry('mine').version, 0, 'a pending write has version 0');
  tx.abort();
  tx.free();
  assert.equal(db.get('mine'), undefined);
  assert.deepEqual(db.get('x'), B('2'));
});

test('first committer wins: the conflict names the key, the rule and the versions', (t) => {
  const { db } = freshDb(t);
  const v1 = db.put('k', 'a');
  const t1 = db.begin();
  const t2 = db.begin();
  t1.get('k');
  t2.get('k');
  t1.put('k', 't1');
  t2.put('k', 't2');
  const cv = t1.commit();
  assert.equal(cv, v1 + 1);
  const err = assert.throws(() => t2.commit(), inmem.ConflictError);
  assert.equal(t2.status, 'aborted');
  const d = t2.describe();
  assert.equal(d.reason, 'read_conflict');
  assert.deepEqual(d.conflict.key, B('k'));
  t1.free();
  t2.free();
  assert.deepEqual(db.get('k'), B('t1'));
  void err;
});

test('the ConflictError carries the conflict: rule, run, key, expected and found', (t) => {
  const { db } = freshDb(t);
  const run = inmem.newRunId();
  db.put('k', 'a', { run });
  const t1 = db.begin();
  t1.get('k', { run });
  db.put('k', 'b', { run });
  t1.put('other', 'x');
  try {
    t1.commit();
    assert.fail('commit should conflict');
  } catch (e) {
    assert.ok(e instanceof inmem.ConflictError);
    assert.ok(e instanceof inmem.InmemError);
    assert.equal(e.code, 'INMEM_CONFLICT');
    assert.equal(e.errno, -2);
    assert.equal(e.conflict.rule, 'read');
    assert.equal(e.conflict.run, run);
    assert.deepEqual(e.conflict.key, B('k'));
    assert.equal(e.conflict.expected, 1);
    assert.equal(e.conflict.found, 2);
    assert.equal(e.conflict.primitive, 'kv');
  } finally {
    t1.free();
  }
  // a state cell's conflict says it is one
  const vc = db.state.set(run, 'phase', 'plan');
  const t2 = db.begin();
  t2.state.cas(run, 'phase', vc, 'act');
  db.state.set(run, 'phase', 'done');
  assert.throws(() => t2.commit(), (e) => e instanceof inmem.ConflictError &&
    e.conflict.primitive === 'state' && e.conflict.key.toString() === 'phase');
  t2.free();
  // and a deadline's abort has its own reason
  const t3 = db.begin({ timeoutUs: 1 });
  const end = Date.now() + 3;
  while (Date.now() < end);
  assert.throws(() => t3.commit(), inmem.TimeoutError);
  assert.equal(t3.describe().reason, 'deadline');
  t3.free();
});

test('cas in a transaction is checked at commit (rule: cas) and is not a read', (t) => {
  const { db } = freshDb(t);
  const v = db.put('c', '0');
  const tx = db.begin();
  tx.cas('c', v, '1');
  db.put('c', 'other');
  const e = assert.throws(() => tx.commit(), inmem.ConflictError);
  assert.equal(tx.describe().reason, 'cas_conflict');
  tx.free();
  void e;
  const tx2 = db.begin();
  tx2.cas('absent', 0, 'new');
  tx2.commit();
  tx2.free();
  assert.deepEqual(db.get('absent'), B('new'));
});

test('blind writes never conflict: the last committer stands', (t) => {
  const { db } = freshDb(t);
  const t1 = db.begin();
  const t2 = db.begin();
  t1.put('b', '1');
  t2.put('b', '2');
  t1.commit();
  t2.commit();
  t1.free();
  t2.free();
  assert.deepEqual(db.get('b'), B('2'));
});

test('read-only transactions refuse writes and commit without a version', (t) => {
  const { db } = freshDb(t);
  db.put('k', 'v');
  const tx = db.begin({ readOnly: true });
  assert.equal(tx.readOnly, true);
  assert.deepEqual(tx.get('k'), B('v'));
  assert.throws(() => tx.put('k', 'w'), inmem.ReadOnlyError);
  assert.equal(tx.commit(), 0);
  tx.free();
  assert.equal(db.read((r) => r.get('k').toString()), 'v');
});

test('scan: ranges, prefixes, pending writes merged, iterator protocol and batches', (t) => {
  const { db } = freshDb(t);
  for (let i = 0; i < 100; i++) db.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
  db.put('z', 'z');
  const tx = db.begin();
  tx.put('k050x', 'pending');
  tx.delete('k051');
  const keys = [...tx.scan({ start: 'k048', end: 'k053' })].map((e) => e.key.toString());
  assert.deepEqual(keys, ['k048', 'k049', 'k050', 'k050x', 'k052']);
  let n = 0;
  for (const e of tx.scan({ prefix: 'k', batch: 7 })) {
    assert.ok(e.key.toString().startsWith('k'));
    n++;
  }
  assert.equal(n, 100); // 100 - 1 deleted + 1 pending
  const it = tx.scan({});
  const first = it.next();
  assert.equal(first.done, false);
  assert.deepEqual(first.value.key, B('k000'));
  it.free();
  assert.throws(() => it.next(), inmem.MisuseError);
  // breaking out of for...of frees the iterator
  const it2 = tx.scan({});
  for (const e of it2) { void e; break; }
  assert.throws(() => it2.nextEntry(), inmem.MisuseError);
  tx.commit();
  tx.free();
});

test('an iterator dies with its transaction', (t) => {
  const { db } = freshDb(t);
  db.put('a', '1');
  db.put('b', '2');
  const tx = db.begin();
  const it = tx.scan({ batch: 1 });
  assert.deepEqual(it.next().value.key, B('a'));
  tx.free();
  assert.throws(() => it.next(), inmem.MisuseError);
  it.free(); // harmless
});

test('getMany and putMany', (t) => {
  const { db } = freshDb(t);
  const run = inmem.newRunId();
  const tx = db.begin();
  tx.putMany(['a', '1', B('b'), '2'], { run });
  tx.commit();
  tx.free();
  const r = db.read((x) => x.getMany(['a', 'zz', 'b'], { run }));
  assert.deepEqual(r.map((e) => e.value && e.value.toString()), ['1', undefined, '2']);
  assert.deepEqual(r[1].key, B('zz'));
  const tx2 = db.begin();
  assert.throws(() => tx2.putMany(['odd'], { run }), inmem.InvalidArgumentError);
  tx2.free();
});

test('scanAsync and commitAsync run on the pool; the transaction is busy meanwhile', async (t) => {
  const { db } = freshDb(t);
  for (let i = 0; i < 1000; i++) db.put(`s${i}`, `v${i}`);
  const tx = db.begin();
  const p = tx.scanAsync({ prefix: 's', limit: 600 });
  assert.throws(() => tx.get('s1'), (e) => e instanceof inmem.MisuseError && /busy/.test(e.message));
  assert.throws(() => tx.free(), inmem.MisuseError);
  assert.throws(() => db.close(), inmem.BusyError);
  const rows = await p;
  assert.equal(rows.length, 600);
  assert.ok(rows.every((r) => r.value.toString() === 'v' + r.key.toString().slice(1)));
  const all = await tx.scanAsync({ start: 's', end: 't' });
  assert.equal(all.length, 1000);
  tx.put('done', 'yes');
  const cp = tx.commitAsync();
  assert.throws(() => tx.put('x', 'y'), inmem.MisuseError);
  const ver = await cp;
  assert.equal(ver, 1001);
  tx.free();
  assert.deepEqual(db.get('done'), B('yes'));
});

test('status while a commitAsync() runs is \'committing\', never read from the pool thread', async (t) => {
  // The pool thread writes the transaction's state as it commits: status must not read it
  // meanwhile (a data race), and says 'committing' instead until the promise settles.
  const { db } = freshDb(t, { durability: 'strict' });
  for (let round = 0; round < 20; round++) {
    const tx = db.begin();
    tx.put('k', String(round));
    const p = tx.commitAsync();
    const seen = new Set();
    for (let i = 0; i < 2000; i++) seen.add(tx.status);
    assert.deepEqual([...seen], ['committing']);
    await p;
    assert.equal(tx.status, 'committed');
    tx.free();
  }
  // A conflict: 'committing', then 'aborted'.
  const a = db.begin();
  a.get('k');
  db.put('k', 'other');
  a.put('k', 'mine');
  const p = a.commitAsync();
  assert.equal(a.status, 'committing');
  await assert.rejects(p, inmem.ConflictError);
  assert.equal(a.status, 'aborted');
  a.free();
  // Another async call leaves the state it began in.
  const r = db.begin();
  const s = r.scanAsync({});
  assert.equal(r.status, 'active');
  await s;
  r.free();
});

test('strict durability: commitAsync waits for the fsync; transact uses it', async (t) => {
  const { db } = freshDb(t, { durability: 'strict' });
  assert.equal(db.durability, 'strict');
  const tx = db.begin();
  tx.put('k', 'v');
  await tx.commitAsync();
  tx.free();
  const r = await db.transact((x) => { x.put('k2', 'v2'); return 'ok'; });
  assert.equal(r, 'ok');
  assert.deepEqual(db.get('k2'), B('v2'));
  assert.ok(db.stats().walSyncs >= 2);
});

test('durability none needs no path and keeps nothing', (t) => {
  const db = inmem.open(null, { durability: 'none' });
  db.put('k', 'v');
  assert.deepEqual(db.get('k'), B('v'));
  assert.equal(db.durability, 'none');
  db.close();
  assert.equal(db.isOpen, false);
  const db2 = inmem.open(undefined, { durability: 'none' });
  assert.equal(db2.get('k'), undefined);
  db2.close();
  assert.throws(() => inmem.open(null), inmem.InvalidArgumentError);
  void t;
});

test('stats count commits, conflicts and open transactions', (t) => {
  const { db } = freshDb(t);
  db.put('a', '1');
  const t1 = db.begin();
  const t2 = db.begin();
  assert.equal(db.stats().openTxns, 2);
  t1.get('a');
  db.put('a', '2');
  t1.put('a', '3');
  assert.throws(() => t1.commit(), inmem.ConflictError);
  t1.free();
  t2.free();
  const s = db.stats();
  assert.equal(s.openTxns, 0);
  assert.equal(s.commits, 2);
  assert.equal(s.abortsReadConflict, 1);
  assert.equal(s.version, 2);
});

test('expiry: read back a TTL as an absolute time; put with expireAt', (t) => {
  const { db } = freshDb(t, { ttlSweepIntervalMs: 0 });
  const before = Date.now();
  db.put('t', 'v', { ttl: 60000 });
  const at = db.getExpiry('t');
  assert.ok(at >= before + 60000 && at <= Date.now() + 60000, `expiry ${at}`);
  db.put('n', 'v');
  assert.equal(db.getExpiry('n'), 0, 'no TTL');
  assert.equal(db.getExpiry('missing'), undefined);
  const when = Date.now() + 3600000;
  const v = db.put('abs', 'v', { expireAt: when });
  assert.equal(v, db.getEntry('abs').version);
  assert.equal(db.getExpiry('abs'), when);
  db.put('past', 'v', { expireAt: 1 });
  assert.equal(db.get('past'), undefined, 'an expiry in the past is never seen');
  assert.throws(() => db.put('x', 'v', { ttl: 5, expireAt: when }), inmem.InvalidArgumentError);
  const tx = db.begin();
  tx.put('p', 'v', { expireAt: when });
  assert.equal(tx.getExpiry('p'), when, 'a pending write');
  tx.abort();
  tx.free();
});

test('open options: createIfMissing, fileMode, maxUnsyncedCommits; recovery says created', (t) => {
  const fs = require('node:fs');
  const path = require('node:path');
  const { tmpdir } = require('./helpers');
  const base = tmpdir(t);
  const dir = path.join(base, 'db');
  assert.throws(() => inmem.open(dir, { createIfMissing: false }), inmem.NotFoundError);
  const db = inmem.open(dir, { fileMode: 0o640, maxUnsyncedCommits: 10 });
  assert.equal(db.recovery().created, true);
  db.put('k', 'v');
  db.close();
  const seg = fs.readdirSync(dir).find((f) => f.startsWith('wal-'));
  assert.equal(fs.statSync(path.join(dir, seg)).mode & 0o777, 0o640 & ~process.umask());
  const again = inmem.open(dir, { createIfMissing: false });
  assert.equal(again.recovery().created, false);
  again.close();
});
