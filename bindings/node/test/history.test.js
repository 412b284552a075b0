'use strict';
// Retained history through the binding (docs/history.md): the open options, time-travel
// transactions, key and state history, forks, replay, diff, and waiting for changes.
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, tmpdir, inmem } = require('./helpers');

const S = (b) => (b === undefined ? undefined : b.toString());

/** Commits n writes to an unrelated key: the garbage collector runs every few commits. */
function churn(db, n) {
  for (let i = 0; i < n; i++) db.put('churn', String(i));
}

test('open options historyMs / historyVersions keep old versions; stats count them', (t) => {
  const { db, dir } = freshDb(t, { historyVersions: 3 });
  for (let i = 0; i < 6; i++) db.put('k', `v${i}`);
  churn(db, 20);
  const s = db.stats();
  assert.ok(s.historyBytes >= 2 * 2, `historyBytes ${s.historyBytes}: v3 and v4 are kept`);
  assert.equal(typeof s.historyFloor, 'number');
  assert.ok(s.historyFloor <= s.version);

  // Without retention nothing is kept once no transaction needs it, and the floor follows the
  // newest version (as the garbage collector runs: every few commits).
  const plain = inmem.open(null, { durability: 'none' });
  t.after(() => plain.close());
  for (let i = 0; i < 6; i++) plain.put('k', `v${i}`);
  churn(plain, 20);
  const p = plain.stats();
  assert.ok(p.historyBytes < s.historyBytes);
  assert.ok(p.historyFloor > 6 && p.historyFloor <= p.version, `floor ${p.historyFloor}`);

  // A window is an option too; a directory open in this process is shared only with the same
  // history options.
  const w = inmem.open(null, { durability: 'none', historyMs: 60000 });
  w.close();
  assert.throws(() => inmem.open(dir, { historyVersions: 4 }), inmem.InvalidArgumentError);
  const again = inmem.open(dir, { historyVersions: 3 });
  again.close();
  assert.throws(() => inmem.open(tmpdir(t), { historyMs: -1 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(tmpdir(t), { historyVersions: 2 ** 33 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(tmpdir(t), { historyMs: 'long' }), inmem.InvalidArgumentError);
});

test('the database stores its history policy: an open without options keeps it', (t) => {
  const dir = tmpdir(t);
  let db = inmem.open(dir, { historyVersions: 5 });
  const v1 = db.put('k', 'a');
  db.put('k', 'b');
  db.close();
  db = inmem.open(dir);
  let s = db.stats();
  assert.equal(s.historyVersions, 5);
  assert.equal(s.historyMs, 0);
  churn(db, 20);
  const tx = db.begin({ at: v1 });
  assert.equal(S(tx.get('k')), 'a');
  tx.abort();
  db.close();
  db = inmem.open(dir, { historyVersions: 1 }); // turns it off, for good
  db.close();
  db = inmem.open(dir);
  s = db.stats();
  assert.equal(s.historyVersions, 0);
  db.close();
});

/** Waits until the wall clock has moved past `ms` (commit times are Unix ms). */
async function nextMs(ms) {
  while (Date.now() <= ms + 1) await new Promise((r) => setTimeout(r, 2));
}

test('time travel: begin({ at }) and begin({ atTime }) read the old value, read-only', async (t) => {
  const { db } = freshDb(t, { historyMs: 600000 });
  const run = db.runs.begin();
  const v1 = db.put('plan', 'draft', { run });
  db.state.set(run, 'phase', 'planning');
  const tA = db.versionTime(db.stats().version); // the state after v1 and the cell's set
  await nextMs(tA);
  const v2 = db.put('plan', 'final', { run });
  db.state.set(run, 'phase', 'done');
  db.delete('plan', { run });
  churn(db, 20);

  const tx = db.begin({ at: v1 });
  assert.equal(tx.readOnly, true);
  assert.deepEqual(tx.getEntry('plan', { run }), { value: Buffer.from('draft'), version: v1 });
  assert.equal(tx.state.get(run, 'phase'), undefined, 'set after v1');
  assert.equal(tx.describe().startVersion, v1);
  assert.throws(() => tx.put('plan', 'x', { run }), inmem.ReadOnlyError);
  tx.free();
  assert.equal(S(db.read((r) => r.get('plan', { run }), { at: v2 })), 'final');
  assert.equal(db.read((r) => r.get('plan', { run }), { at: v2 + 2 }), undefined, 'deleted');
  assert.equal(db.read((r) => r.get('plan', { run })), undefined);
  assert.equal(db.read((r) => r.list({ run }).length, { at: 0 }), 0, 'version 0: empty');

  // Version <-> time.
  const t1 = db.versionTime(v1);
  const t2 = db.versionTime(v2);
  assert.ok(t1 > 0 && t2 > t1, `${t1} < ${t2}`);
  assert.ok(db.timeVersion(t1) >= v1 && db.timeVersion(t1) < v2);
  assert.equal(db.timeVersion(t2 + 3600000), db.stats().version);
  const old = db.begin({ atTime: tA });
  assert.equal(S(old.get('plan', { run })), 'draft');
  assert.equal(S(old.state.get(run, 'phase').value), 'planning');
  old.free();
  // The newest commit at or before t2 (the delete may share v2's millisecond).
  assert.equal(db.read((r) => r.describe().startVersion, { atTime: t2 }), db.timeVersion(t2));

  // Out of range and bad arguments.
  assert.throws(() => db.begin({ at: db.stats().version + 1 }), inmem.InvalidArgumentError);
  assert.throws(() => db.begin({ at: 1, atTime: t1 }), inmem.InvalidArgumentError);
  assert.throws(() => db.begin({ at: -1 }), inmem.InvalidArgumentError);
  assert.throws(() => db.versionTime(0), inmem.InvalidArgumentError);
  assert.throws(() => db.versionTime(), inmem.InvalidArgumentError);
  assert.throws(() => db.begin({ atTime: t1 - 3600000 }), inmem.HistoryError);
  assert.throws(() => db.timeVersion(t1 - 3600000), inmem.HistoryError);
});

test('HistoryError outside retention: without history, and by count', (t) => {
  // No retention: an old version is refused at begin once no transaction holds it, never
  // answered from a newer one; no commit times are kept.
  const { db } = freshDb(t);
  const v1 = db.put('k', 'one');
  const hold = db.begin(); // holds v1
  db.put('k', 'two');
  churn(db, 20);
  assert.equal(S(db.read((r) => r.get('k'), { at: v1 })), 'one');
  hold.free();
  churn(db, 20);
  assert.throws(() => db.begin({ at: v1 }), (e) => e instanceof inmem.HistoryError &&
    e.code === 'INMEM_EHISTORY' && e.errno === -18);
  assert.ok(db.stats().historyFloor > v1);
  assert.throws(() => db.versionTime(v1), inmem.HistoryError);
  assert.throws(() => db.timeVersion(Date.now()), inmem.HistoryError);
  assert.throws(() => db.begin({ atTime: Date.now() }), inmem.HistoryError);

  // By count: the 3 newest versions of a key are kept; a read of an older one fails (the
  // transaction stays usable), while a key that kept its version answers.
  const c = inmem.open(null, { durability: 'none', historyVersions: 3 });
  t.after(() => c.close());
  const quiet = c.put('quiet', 'q');
  const v = [];
  for (let i = 0; i < 10; i++) v.push(c.put('hot', `hot${i}`));
  churn(c, 40);
  for (let i = 0; i < 10; i++) {
    const tx = c.begin({ at: v[i] });
    if (i >= 7) assert.equal(S(tx.get('hot')), `hot${i}`);
    else assert.throws(() => tx.get('hot'), inmem.HistoryError, `version ${i}`);
    assert.equal(S(tx.get('quiet')), 'q');
    tx.free();
  }
  assert.equal(c.read((r) => r.get('quiet'), { at: quiet - 1 }), undefined);
});

test('key history: newest first, values and tombstones, pages, expiry, olderFreed', (t) => {
  const { db } = freshDb(t, { historyVersions: 4 });
  const run = db.runs.begin();
  const v1 = db.put('plan', 'a', { run });
  const v2 = db.put('plan', 'b', { run, ttl: 3600000 });
  const v3 = db.delete('plan', { run });
  const v4 = db.put('plan', 'd', { run });
  db.put('plan', 'other scope'); // the shared scope's key of the same name is another key

  const h = db.history('plan', { run });
  assert.deepEqual(h.map((e) => e.version), [v4, v3, v2, v1]);
  assert.deepEqual(h.map((e) => S(e.value)), ['d', undefined, 'b', 'a']);
  assert.deepEqual(h.map((e) => e.deleted), [false, true, false, false]);
  assert.ok(h[2].expireAt > Date.now() + 3000000 && h[0].expireAt === 0);
  assert.ok(h.every((e) => e.timeMs > 0 && !e.olderFreed));
  // Pages, with the last version as the cursor.
  const p1 = db.history('plan', { run, limit: 3 });
  assert.deepEqual(p1.map((e) => e.version), [v4, v3, v2]);
  assert.deepEqual(db.history('plan', { run, before: v2, limit: 3 }).map((e) => e.version), [v1]);
  assert.deepEqual(db.history('plan', { run, before: v1 }), []);
  assert.deepEqual(db.history('missing', { run }), []);

  // A snapshot covers the history up to its version; its own pending writes are not history.
  const past = db.begin({ at: v2 });
  assert.deepEqual(past.history('plan', { run }).map((e) => e.version), [v2, v1]);
  past.free();
  const tx = db.begin();
  tx.put('plan', 'pending', { run });
  assert.deepEqual(tx.history('plan', { run }).map((e) => e.version), [v4, v3, v2, v1]);
  tx.abort();
  tx.free();

  // Kept by count: after a fifth version the oldest kept is marked, the first is gone.
  const v5 = db.put('plan', 'e', { run });
  churn(db, 40);
  const h5 = db.history('plan', { run });
  assert.deepEqual(h5.map((e) => e.version), [v5, v4, v3, v2]);
  assert.equal(h5[3].olderFreed, true);
  assert.throws(() => db.history('plan', { run, limit: 2 ** 21 }), inmem.InvalidArgumentError);
  assert.throws(() => db.history(42), inmem.InvalidArgumentError);
});

test('state history: a cell\'s versions, newest first, in a transaction or on the database', (t) => {
  const { db } = freshDb(t, { historyMs: 600000 });
  const run = db.runs.begin();
  const v1 = db.state.set(run, 'phase', 'plan');
  const v2 = db.state.cas(run, 'phase', v1, 'act');
  const v3 = db.state.set(run, 'phase', 'review');
  const h = db.state.history(run, 'phase');
  assert.deepEqual(h.map((e) => [e.version, S(e.value), e.deleted]),
    [[v3, 'review', false], [v2, 'act', false], [v1, 'plan', false]]);
  const tx = db.begin({ readOnly: true });
  assert.deepEqual(tx.state.history(run, 'phase', { before: v3, limit: 1 }).map((e) => e.version), [v2]);
  tx.free();
  assert.deepEqual(db.state.history(run, 'nothing'), []);
  assert.throws(() => db.state.history(run, ''), inmem.InvalidArgumentError);
});

test('fork: the fork starts with the parent\'s data at a version, then both diverge', (t) => {
  const { db } = freshDb(t, { historyMs: 600000 });
  const parent = db.runs.begin({ agent: 'planner' });
  db.put('plan', 'v1', { run: parent });
  db.state.set(parent, 'phase', 'plan');
  db.events.append(parent, 'log', 'step', 'one');
  const at = db.put('plan', 'v2', { run: parent });
  db.put('plan', 'v3', { run: parent }); // after the fork's version

  const fork = db.runs.fork(parent, { at, agent: 'explorer', tags: ['alt'] });
  const info = db.runs.get(fork);
  assert.equal(info.parent, parent);
  assert.equal(info.agent, 'explorer');
  assert.deepEqual(info.tags, ['alt']);
  assert.equal(S(db.get('plan', { run: fork })), 'v2', 'the parent as of `at`');
  assert.equal(S(db.state.get(fork, 'phase').value), 'plan');
  assert.equal(db.events.info(fork, 'log').length, 1);

  // Diverge both ways.
  db.put('plan', 'fork-only', { run: fork });
  db.put('scratch', 'x', { run: fork });
  assert.equal(db.events.append(fork, 'log', 'step', 'fork two'), 2, 'continues the sequence');
  db.put('plan', 'v4', { run: parent });
  db.put('later', 'p', { run: parent });
  assert.equal(S(db.get('plan', { run: parent })), 'v4');
  assert.equal(db.get('scratch', { run: parent }), undefined);
  assert.equal(db.events.info(parent, 'log').length, 1);
  assert.equal(S(db.get('plan', { run: fork })), 'fork-only');
  assert.equal(db.get('later', { run: fork }), undefined);
  db.delete('plan', { run: fork });
  assert.equal(db.get('plan', { run: fork }), undefined);
  assert.equal(S(db.get('plan', { run: parent })), 'v4');
  assert.deepEqual(db.list({ run: fork }).map((e) => S(e.key)), ['scratch']);

  // The newest (at absent), in a transaction, atomic with other writes.
  const tx = db.begin();
  const f2 = tx.runs.fork(parent);
  tx.put('note', 'made with a fork', { run: f2 });
  // (What the fork inherits shows once the fork is committed: the library does not show it
  // to the transaction that makes the fork.)
  tx.commit();
  tx.free();
  assert.equal(S(db.get('note', { run: f2 })), 'made with a fork');
  assert.equal(S(db.get('later', { run: f2 })), 'p');
  assert.equal(S(db.get('plan', { run: f2 })), 'v4');

  // A parent with live forks cannot be deleted; bad arguments.
  assert.throws(() => db.runs.delete(parent), inmem.MisuseError);
  assert.throws(() => db.runs.fork(null), inmem.InvalidArgumentError);
  assert.throws(() => db.runs.fork(inmem.newRunId()), inmem.InvalidArgumentError);
  assert.throws(() => db.runs.fork(parent, { at: db.stats().version + 5 }), inmem.InvalidArgumentError);
  db.runs.delete(fork);
  db.runs.delete(f2);
  db.runs.delete(parent);
});

test('fork at a version the history no longer holds is a HistoryError; runs keep their own history', (t) => {
  const { db } = freshDb(t); // no retention for the database
  const p = db.runs.begin();
  const old = db.put('k', 'old', { run: p });
  db.put('k', 'new', { run: p });
  churn(db, 30);
  assert.throws(() => db.runs.fork(p, { at: old }), inmem.HistoryError);

  // A run with its own policy keeps its history although the database keeps none.
  const kept = db.runs.begin({ historyVersions: 5 });
  const k1 = db.put('k', 'one', { run: kept });
  db.put('k', 'two', { run: kept });
  churn(db, 30);
  assert.equal(S(db.read((r) => r.get('k', { run: kept }), { at: k1 })), 'one');
  assert.deepEqual(db.history('k', { run: kept }).map((e) => S(e.value)), ['two', 'one']);
  const f = db.runs.fork(kept, { at: k1 });
  assert.equal(S(db.get('k', { run: f })), 'one');
  // history: true with both 0 keeps less than the database; bad values are refused.
  db.runs.begin({ history: true });
  assert.throws(() => db.runs.begin({ historyVersions: -1 }), inmem.InvalidArgumentError);
  assert.throws(() => db.runs.begin({ historyMs: 'x' }), inmem.InvalidArgumentError);
});

test('replay: a run\'s writes in commit order, every primitive, resumable from a version', (t) => {
  const { db } = freshDb(t, { historyMs: 600000 });
  const run = db.runs.begin({ agent: 'a' });
  const v1 = db.put('b', '1', { run, ttl: 3600000 });
  const v2 = db.transactSync((tx) => {
    tx.put('a', '2', { run });
    tx.put('c', '3', { run });
    tx.state.set(run, 'phase', 'act');
    tx.put('elsewhere', 'not this run');
    return tx.describe().startVersion + 1;
  });
  const v3 = db.events.append(run, 'log', 'step', 'payload') && db.stats().version;
  const span = db.traces.record(run, { kind: 'thought', name: 'think' });
  const v4 = db.stats().version;
  const v5 = db.delete('b', { run });
  db.put('other', 'x', { run: db.runs.begin() }); // another run: not in this replay

  const all = [...db.runs.replay(run)];
  const versions = all.map((e) => e.version);
  assert.deepEqual(versions, [...versions].sort((x, y) => x - y), 'commit order');
  assert.ok(versions.includes(v1) && versions.includes(v2) && versions.includes(v5));
  assert.ok(versions[0] < v1, 'the run\'s begin (its metadata) comes first');
  assert.equal(all[0].changes[0].primitive, 'run');
  assert.ok(all.every((e) => e.timeMs > 0));

  const byV = new Map(all.map((e) => [e.version, e.changes]));
  assert.deepEqual(byV.get(v1).map((c) => [c.primitive, S(c.key), S(c.value)]), [['kv', 'b', '1']]);
  assert.ok(byV.get(v1)[0].expireAt > Date.now());
  const c2 = byV.get(v2);
  assert.deepEqual(c2.filter((c) => c.primitive === 'kv').map((c) => [S(c.key), S(c.value)]),
    [['a', '2'], ['c', '3']], 'key order, this run only');
  const cell = c2.find((c) => c.primitive === 'state');
  assert.equal(cell.name, 'phase');
  assert.equal(S(cell.value), 'act');
  const ev = byV.get(v3).find((c) => c.primitive === 'event');
  assert.equal(ev.name, 'log');
  assert.equal(ev.seq, 1);
  assert.equal(ev.event.type, 'step');
  assert.equal(S(ev.event.payload), 'payload');
  assert.equal(S(ev.value), 'payload');
  const sp = byV.get(v4).find((c) => c.primitive === 'trace');
  assert.equal(sp.spanId, span);
  const del = byV.get(v5);
  assert.deepEqual(del.map((c) => [c.primitive, S(c.key), c.deleted, c.value]), [['kv', 'b', true, undefined]]);

  // Resume from the last version seen; a small batch gives the same feed.
  const rest = [...db.runs.replay(run, { after: v2 })].map((e) => e.version);
  assert.deepEqual(rest, versions.filter((v) => v > v2));
  assert.deepEqual([...db.runs.replay(run, { batch: 1 })].map((e) => e.version), versions);
  assert.deepEqual([...db.runs.replay(run, { after: v5 })], []);
  // Up to a version (on the database), or a transaction's snapshot.
  assert.deepEqual([...db.runs.replay(run, { at: v2 })].map((e) => e.version),
    versions.filter((v) => v <= v2));
  const tx = db.begin({ at: v3 });
  const r = tx.runs.replay(run, { after: v1 });
  assert.equal(r.nextEntry().version, v2);
  assert.equal(r.nextEntry().version, v3);
  assert.equal(r.nextEntry(), undefined);
  // Freed with its transaction: it throws afterwards, never reads freed memory.
  const r2 = tx.runs.replay(run);
  tx.free();
  assert.throws(() => r2.nextEntry(), inmem.MisuseError);
  r2.free();
  // Leaving a for...of frees the replay and the transaction it made.
  const open = db.stats().openTxns;
  for (const e of db.runs.replay(run, { batch: 1 })) { assert.ok(e.version); break; }
  assert.equal(db.stats().openTxns, open);
});

test('replay: HistoryError when the history no longer holds every version asked for', (t) => {
  const { db } = freshDb(t); // no retention
  const run = db.runs.begin();
  db.put('k', '1', { run });
  db.put('k', '2', { run });
  churn(db, 30);
  assert.throws(() => db.runs.replay(run, { after: 0 }), inmem.HistoryError);
  const open = db.stats().openTxns;
  assert.throws(() => db.runs.replay(run, { after: 1 }), inmem.HistoryError);
  assert.equal(db.stats().openTxns, open, 'the transaction it began is freed');
  // From the newest on there is nothing to replay, and nothing missing.
  assert.deepEqual([...db.runs.replay(run, { after: db.stats().version })], []);
});

test('diff: kinds per primitive, a fork against its parent, one run at two versions', async (t) => {
  const { db } = freshDb(t, { historyMs: 600000 });
  const parent = db.runs.begin();
  db.put('same', 's', { run: parent });
  db.put('changed', 'p', { run: parent });
  db.put('removed', 'r', { run: parent });
  db.state.set(parent, 'phase', 'plan');
  db.events.appendBatch(parent, 'log', [{ type: 't', payload: '1' }, { type: 't', payload: '2' }]);
  const at = db.stats().version;
  const fork = db.runs.fork(parent, { at });
  assert.deepEqual([...db.runs.diff(parent, fork, { atB: 0 })], [], 'a new fork: no difference');

  db.put('changed', 'f', { run: fork });
  db.delete('removed', { run: fork });
  db.put('added', 'a', { run: fork });
  db.state.set(fork, 'phase', 'act');
  db.state.set(fork, 'extra', 'x');
  db.events.append(fork, 'log', 't', 'fork 3');
  db.events.append(fork, 'new', 't', 'n');
  const span = db.traces.record(fork, { kind: 'decision', name: 'go' });

  const d = [...db.runs.diff(parent, fork)];
  const kv = d.filter((e) => e.primitive === 'kv').map((e) => [S(e.key), e.kind]);
  assert.deepEqual(kv, [['added', 'added'], ['changed', 'changed'], ['removed', 'removed']]);
  const changed = d.find((e) => e.primitive === 'kv' && S(e.key) === 'changed');
  assert.ok(changed.versionA > 0 && changed.versionB > changed.versionA);
  const removed = d.find((e) => S(e.key) === 'removed');
  assert.ok(removed.versionA > 0 && removed.versionB === 0);
  const added = d.find((e) => S(e.key) === 'added');
  assert.ok(added.versionA === 0 && added.versionB > 0);
  assert.deepEqual(d.filter((e) => e.primitive === 'state').map((e) => [e.name, e.kind]),
    [['extra', 'added'], ['phase', 'changed']]);
  assert.deepEqual(d.filter((e) => e.primitive === 'event').map((e) => [e.name, e.kind, e.firstSeq]),
    [['log', 'changed', 3], ['new', 'added', 1]]);
  assert.deepEqual(d.filter((e) => e.primitive === 'trace').map((e) => [e.spanId, e.kind]),
    [[span, 'added']]);
  // Primitive by primitive: KV, state, events, traces.
  const order = d.map((e) => e.primitive).filter((p, i, a) => a.indexOf(p) === i);
  assert.deepEqual(order, ['kv', 'state', 'event', 'trace']);

  // The parent moving on shows too, the other way round.
  db.put('same', 'parent moved', { run: parent });
  assert.deepEqual([...db.runs.diff(fork, parent)].filter((e) => S(e.key) === 'same')
    .map((e) => e.kind), ['changed']);
  // The fork as of its version against the parent then: still nothing.
  assert.deepEqual([...db.runs.diff(parent, fork, { atA: at, atB: at + 1 })], []);

  // One run at two versions; batches of one; the async form gives the same entries.
  const before = db.stats().version;
  db.put('later', 'l', { run: parent });
  const two = [...db.runs.diff(parent, parent, { atA: before, batch: 1 })];
  assert.deepEqual(two.map((e) => [e.primitive, S(e.key), e.kind]), [['kv', 'later', 'added']]);
  assert.deepEqual(await db.runs.diffAsync(parent, fork), [...db.runs.diff(parent, fork)]);

  // A diff is freed at its end and by free(); it throws afterwards.
  const dd = db.runs.diff(parent, fork);
  dd.free();
  dd.free();
  assert.throws(() => dd.nextEntry(), inmem.MisuseError);
  assert.throws(() => db.runs.diff(parent, fork, { atA: db.stats().version + 9 }),
    inmem.InvalidArgumentError);
  assert.equal(typeof db.begin().runs.diff, 'undefined', 'a database call only');
});

test('diff: HistoryError for a version the history no longer holds', async (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  const v1 = db.put('k', '1', { run });
  db.put('k', '2', { run });
  churn(db, 30);
  assert.throws(() => db.runs.diff(run, run, { atA: v1 }), inmem.HistoryError);
  await assert.rejects(db.runs.diffAsync(run, run, { atA: v1 }), inmem.HistoryError);
});
