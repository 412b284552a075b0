'use strict';
// Closure transactions: db.transact (async callback, retry loop in JS) and db.transactSync
// (sync callback, the library's retry loop), and db.state.transition.
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, inmem } = require('./helpers');

test('transact commits and resolves to the callback result', async (t) => {
  const { db } = freshDb(t);
  const r = await db.transact(async (tx) => {
    tx.put('a', '1');
    await new Promise((res) => setImmediate(res));
    tx.put('b', '2');
    return { ok: true };
  });
  assert.deepEqual(r, { ok: true });
  assert.deepEqual(db.get('a'), Buffer.from('1'));
  assert.deepEqual(db.get('b'), Buffer.from('2'));
  assert.equal(db.stats().openTxns, 0);
});

test('transact re-runs the callback on a fresh snapshot after a conflict', async (t) => {
  const { db } = freshDb(t);
  db.put('n', '0');
  let runs = 0;
  const r = await db.transact(async (tx) => {
    runs++;
    const n = Number(tx.get('n').toString());
    if (runs === 1) db.put('n', '10'); // another writer commits under our feet
    tx.put('n', String(n + 1));
    return n;
  });
  assert.equal(runs, 2);
  assert.equal(r, 10, 'the second run saw the other commit');
  assert.equal(db.get('n').toString(), '11');
});

test('transact counts its re-runs, its giving up and its time running out in stats, as transactSync does', async (t) => {
  // Its retry loop runs in JavaScript: stats().retries, retriesExhausted and deadlinesExpired
  // stayed at 0 for it while transactSync's loop (the library's) counted there.
  const { db } = freshDb(t);
  db.put('n', '0');
  const delta = (s0, s1) => ({ retries: s1.retries - s0.retries,
    retriesExhausted: s1.retriesExhausted - s0.retriesExhausted,
    deadlinesExpired: s1.deadlinesExpired - s0.deadlinesExpired });
  // a commit under the callback's feet at each of its first two runs: two re-runs
  const conflicting = (upTo) => {
    let runs = 0;
    return (tx) => {
      runs++;
      tx.get('n');
      if (runs <= upTo) db.put('n', String(runs));
      tx.put('n', 'x');
    };
  };
  for (const [name, call] of [['transact', (fn, o) => db.transact(fn, o)],
    ['transactSync', async (fn, o) => db.transactSync(fn, o)]]) {
    let s0 = db.stats();
    await call(conflicting(2));
    assert.deepEqual(delta(s0, db.stats()), { retries: 2, retriesExhausted: 0, deadlinesExpired: 0 },
      `${name}: committed at the third run`);
    s0 = db.stats();
    await assert.rejects(call(conflicting(Infinity), { maxAttempts: 3 }), inmem.RetriesExhaustedError);
    assert.deepEqual(delta(s0, db.stats()), { retries: 2, retriesExhausted: 1, deadlinesExpired: 0 },
      `${name}: gave up after 3 attempts`);
    // a back-off longer than the time left: out of time between attempts
    s0 = db.stats();
    await assert.rejects(call(conflicting(Infinity),
      { timeoutUs: 200000, backoffInitialUs: 10000000, backoffMaxUs: 10000000 }), inmem.TimeoutError);
    assert.deepEqual(delta(s0, db.stats()), { retries: 0, retriesExhausted: 0, deadlinesExpired: 1 },
      `${name}: out of time`);
  }
});

test('a ConflictError thrown by the callback also retries', async (t) => {
  const { db } = freshDb(t);
  const run = inmem.newRunId();
  db.state.set(run, 'cell', 'a');
  let runs = 0;
  await db.transact((tx) => {
    runs++;
    const expected = runs === 1 ? 'stale' : 'a';
    tx.state.casValue(run, 'cell', expected, 'b');
  });
  assert.equal(runs, 2);
  assert.equal(db.state.get(run, 'cell').value.toString(), 'b');
});

test('transact gives up with RetriesExhaustedError after maxAttempts conflicts', async (t) => {
  const { db } = freshDb(t);
  db.put('k', '0');
  let runs = 0;
  await assert.rejects(db.transact((tx) => {
    runs++;
    tx.get('k');
    db.put('k', String(runs));
    tx.put('k', 'mine');
  }, { maxAttempts: 3, backoffInitialUs: 1, backoffMaxUs: 10 }),
  (e) => e instanceof inmem.RetriesExhaustedError && e.code === 'INMEM_ERETRIES');
  assert.equal(runs, 3);
  assert.equal(db.get('k').toString(), '3');
  assert.equal(db.stats().openTxns, 0);
});

test('transact gives up with TimeoutError when the deadline passes', async (t) => {
  const { db } = freshDb(t);
  db.put('k', '0');
  await assert.rejects(db.transact((tx) => {
    tx.get('k');
    db.put('k', 'x');
    tx.put('k', 'mine');
  }, { maxAttempts: 1000000, backoffInitialUs: 1000, backoffMaxUs: 1000, timeoutUs: 1 }),
  (e) => e instanceof inmem.TimeoutError && e.code === 'INMEM_ETIMEDOUT');
});

test('a transaction committed past its deadline applies nothing (TimeoutError)', async (t) => {
  const { db } = freshDb(t);
  const tx = db.begin({ timeoutUs: 1000 });
  tx.put('a', '1');
  await new Promise((r) => setTimeout(r, 5));
  assert.throws(() => tx.commit(), (e) => e instanceof inmem.TimeoutError);
  assert.equal(tx.status, 'aborted');
  tx.free();
  assert.equal(db.get('a'), undefined);
  const ok = db.begin();
  ok.setTimeout(60e6);
  ok.put('b', '2');
  ok.commit();
  ok.free();
  assert.equal(db.get('b').toString(), '2');
  assert.equal(db.stats().deadlinesExpired, 1);
});

test('transact: an attempt whose callback runs past the timeout is not committed', async (t) => {
  const { db } = freshDb(t);
  let runs = 0;
  await assert.rejects(db.transact(async (tx) => {
    runs++;
    tx.put('slow', 'late');
    await new Promise((r) => setTimeout(r, 30));
  }, { timeoutUs: 10000 }), (e) => e instanceof inmem.TimeoutError);
  assert.equal(runs, 1);
  assert.equal(db.get('slow'), undefined);
  assert.throws(() => db.transactSync((tx) => {
    tx.put('slow', 'late');
    const end = Date.now() + 30;
    while (Date.now() < end);
  }, { timeoutUs: 10000 }), (e) => e instanceof inmem.TimeoutError);
  assert.equal(db.get('slow'), undefined);
});

test('any other error aborts without retry and is rethrown as is', async (t) => {
  const { db } = freshDb(t);
  let runs = 0;
  class Mine extends Error {}
  await assert.rejects(db.transact((tx) => {
    runs++;
    tx.put('k', 'v');
    throw new Mine('stop');
  }), Mine);
  assert.equal(runs, 1);
  assert.equal(db.get('k'), undefined);
  await assert.rejects(db.transact(async () => { throw new TypeError('t'); }), TypeError);
  assert.equal(db.stats().openTxns, 0);
});

test('a transaction used after transact finished throws', async (t) => {
  const { db } = freshDb(t);
  let leaked;
  await db.transact((tx) => { leaked = tx; tx.put('k', 'v'); });
  assert.throws(() => leaked.get('k'), inmem.MisuseError);
});

test('a read-only transact sees a snapshot and refuses writes', async (t) => {
  const { db } = freshDb(t);
  db.put('k', 'v');
  const v = await db.transact((tx) => tx.get('k').toString(), { readOnly: true });
  assert.equal(v, 'v');
  await assert.rejects(db.transact((tx) => tx.put('k', 'w'), { readOnly: true }),
    inmem.ReadOnlyError);
});

test('transactSync runs in the library retry loop and returns the result', (t) => {
  const { db } = freshDb(t);
  db.put('n', '5');
  let runs = 0;
  const r = db.transactSync((tx) => {
    runs++;
    const n = Number(tx.get('n').toString());
    if (runs === 1) db.put('n', '7');
    tx.put('n', String(n * 2));
    return n;
  });
  assert.equal(runs, 2);
  assert.equal(r, 7);
  assert.equal(db.get('n').toString(), '14');
  assert.ok(db.stats().retries >= 1, 'the library counted the retry');
});

test('transactSync: a throw aborts and is rethrown; the transaction is not ours to end', (t) => {
  const { db } = freshDb(t);
  assert.throws(() => db.transactSync((tx) => { tx.put('k', 'v'); throw new RangeError('r'); }),
    RangeError);
  assert.equal(db.get('k'), undefined);
  assert.throws(() => db.transactSync((tx) => tx.commit()), inmem.MisuseError);
  assert.throws(() => db.transactSync((tx) => tx.free()), inmem.MisuseError);
  assert.throws(() => db.transactSync(async () => 1), inmem.MisuseError);
  assert.throws(() => db.transactSync(() => db.close()), inmem.BusyError);
  let it;
  db.transactSync((tx) => { tx.put('a', '1'); it = tx.scan({ batch: 1 }); it.next(); });
  assert.throws(() => it.next(), inmem.MisuseError);
  assert.deepEqual(db.get('a'), Buffer.from('1'));
  assert.throws(() => db.transactSync((tx) => {
    tx.get('a');
    db.put('a', 'other');
    tx.put('a', 'x');
  }, { maxAttempts: 1 }), inmem.RetriesExhaustedError);
  assert.equal(db.stats().openTxns, 0);
});

test('state.transition applies a function with retries and returns the version', (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  let calls = 0;
  const v1 = db.state.transition(run, 'counter', (cur, version) => {
    calls++;
    assert.equal(cur, undefined);
    assert.equal(version, 0);
    return '1';
  });
  const v2 = db.state.transition(run, 'counter', (cur, version) => {
    assert.equal(version, v1);
    return String(Number(cur.toString()) + 1);
  });
  assert.ok(v2 > v1);
  assert.equal(db.state.get(run, 'counter').value.toString(), '2');
  assert.throws(() => db.state.transition(run, 'counter', () => { throw new Error('no'); }),
    /no/);
  assert.throws(() => db.state.transition(run, 'counter', () => 42), inmem.InvalidArgumentError);
  assert.equal(db.state.get(run, 'counter').value.toString(), '2');
  assert.equal(calls, 1);
});

test('an async call on transactSync()\'s transaction is refused, not left running', async (t) => {
  // The library ends and frees that transaction when the callback returns; a scanAsync() (a
  // forgotten await) would go on using it on the thread pool.
  const { db } = freshDb(t);
  for (let i = 0; i < 1000; i++) db.put('k' + i, 'v');
  let p;
  const r = db.transactSync((tx) => { p = tx.scanAsync({}); return 'done'; });
  assert.equal(r, 'done');
  await assert.rejects(p, (e) => e.code === 'INMEM_EMISUSE');
  assert.equal(db.get('k1').toString(), 'v'); // and the database goes on
});
