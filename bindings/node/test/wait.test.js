'use strict';
// Waiting for changes (db.wait): a promise over the library's watch descriptor, polled by the
// event loop. It resolves on the commit that moves the key, times out, is aborted, or is
// rejected by a close, and never blocks the loop.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { freshDb, tmpdir, inmem } = require('./helpers');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('wait resolves on the commit that moves a KV key, a state cell or an event stream', async (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();

  let committed;
  setTimeout(() => { committed = db.put('result', 'done', { run }); }, 30);
  const v = await db.wait('kv', run, 'result');
  assert.equal(v, committed);

  // After the version last seen; a delete moves the key too.
  setTimeout(() => { committed = db.delete('result', { run }); }, 30);
  assert.equal(await db.wait('kv', run, 'result', { after: v }), committed);

  const s1 = db.state.set(run, 'task', 'queued');
  setTimeout(() => { committed = db.state.cas(run, 'task', s1, 'claimed'); }, 30);
  assert.equal(await db.state.wait(run, 'task', { after: s1 }), committed);

  setTimeout(() => { db.events.append(run, 'inbox', 'msg', 'hi'); committed = db.stats().version; }, 30);
  assert.equal(await db.events.wait(run, 'inbox'), committed);
  assert.equal(await db.wait('event', run, 'inbox', { after: committed - 1 }), committed);

  // A commit in a transaction, in the shared scope (run null).
  setTimeout(async () => {
    committed = await db.transact((tx) => { tx.put('g', '1'); tx.put('h', '2'); })
      .then(() => db.stats().version);
  }, 30);
  assert.equal(await db.wait('kv', null, 'h', { timeoutMs: 60000 }), db.stats().version);
});

test('wait resolves at once when the key is past the version already; 0 ms just looks', async (t) => {
  const { db } = freshDb(t);
  const v1 = db.put('k', '1');
  const v2 = db.put('k', '2');
  assert.equal(await db.wait('kv', null, 'k'), v2);
  assert.equal(await db.wait('kv', null, 'k', { after: v1, timeoutMs: 0 }), v2);
  await assert.rejects(db.wait('kv', null, 'k', { after: v2, timeoutMs: 0 }), inmem.TimeoutError);
  await assert.rejects(db.wait('kv', null, 'never', { timeoutMs: 0 }), inmem.TimeoutError);
});

test('wait times out with TimeoutError when nothing moves (other keys do not wake it)', async (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  const timer = setInterval(() => db.put('other', 'x', { run }), 5);
  const t0 = performance.now();
  await assert.rejects(db.wait('kv', run, 'watched', { timeoutMs: 100 }),
    (e) => e instanceof inmem.TimeoutError && e.code === 'INMEM_ETIMEDOUT');
  clearInterval(timer);
  // (libuv's timers count from the loop's cached time: allow for a stale one)
  assert.ok(performance.now() - t0 >= 50, `waited ${performance.now() - t0} ms`);
  await assert.rejects(db.state.wait(run, 'cell', { timeoutMs: 20 }), inmem.TimeoutError);
});

test('the event loop stays responsive while a wait is pending', async (t) => {
  const { db } = freshDb(t);
  let ticks = 0;
  const ticker = setInterval(() => { ticks++; }, 5);
  let immediates = 0;
  const spin = () => { immediates++; if (immediates < 20) setImmediate(spin); };
  setImmediate(spin);
  const p = db.wait('kv', null, 'late', { timeoutMs: 60000 });
  await sleep(150);
  assert.ok(ticks >= 5, `only ${ticks} timer ticks in 150 ms while waiting`);
  assert.equal(immediates, 20);
  const v = db.put('late', 'now');
  assert.equal(await p, v);
  clearInterval(ticker);
});

test('closing the database while waits are pending rejects them with ClosedError', async (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  const a = db.wait('kv', null, 'a');
  const b = db.state.wait(null, 'b', { timeoutMs: 60000 });
  const c = db.events.wait(null, 'c');
  const closed = (e) => e instanceof inmem.ClosedError && e.code === 'INMEM_ECLOSED' &&
    e.errno === -19;
  db.close();
  await Promise.all([a, b, c].map((p) => assert.rejects(p, closed)));
  assert.throws(() => db.wait('kv', null, 'a'), inmem.MisuseError);

  // closeAsync too; the directory can be opened again at once (the lock is released).
  const db2 = inmem.open(dir);
  const d = assert.rejects(db2.wait('kv', null, 'd'), inmem.ClosedError);
  await db2.closeAsync();
  await d;
  const db3 = inmem.open(dir);
  db3.close();

  // Closing one handle of a shared directory rejects its own waits only.
  const x = inmem.open(dir);
  const y = inmem.open(dir);
  const onX = assert.rejects(x.wait('kv', null, 'k'), inmem.ClosedError);
  const onY = y.wait('kv', null, 'k');
  x.close();
  await onX;
  const v = y.put('k', 'v');
  assert.equal(await onY, v);
  y.close();
});

test('user code that closes the database while a close rejects its waits is harmless', async (t) => {
  // Rejecting the waits of a closing handle runs user code (a promise hook, here): a close it
  // makes of the same handle must find it closed, not release the database a second time.
  const { promiseHooks } = require('node:v8');
  for (const how of ['close', 'closeAsync']) {
    const dir = tmpdir(t);
    const db = inmem.open(dir);
    const tx = db.begin();
    const waits = [db.wait('kv', null, 'a'), db.wait('kv', null, 'b')].map((w) => w.catch((e) => e));
    let inner = 0;
    const stop = promiseHooks.onSettled(() => {
      if (inner++ === 0) db.close(); // the handle is closed already: nothing to do
    });
    try {
      if (how === 'close') db.close();
      else await db.closeAsync();
    } finally {
      stop();
    }
    assert.ok(inner > 0, how);
    assert.equal(db.isOpen, false, how);
    assert.equal(tx.status, 'freed', how);
    for (const w of waits) assert.ok((await w) instanceof inmem.ClosedError, how);
    const again = inmem.open(dir); // the lock was released
    again.close();
  }
});

test('user code that closes the database while a wait is set up rejects it with ClosedError', async (t) => {
  // Setting a wait up makes a promise and an async context: user code runs then (promise
  // hooks, async_hooks' init). A close made there was missed (the wait stayed pending on the
  // closed handle, here another handle keeps the database open) or half-settled the wait, whose
  // poll handle was then started while closing (abort).
  const { promiseHooks } = require('node:v8');
  const asyncHooks = require('node:async_hooks');
  for (const how of ['promise hook', 'async_hooks init']) {
    const dir = tmpdir(t);
    const db = inmem.open(dir);
    const other = inmem.open(dir); // shares the database: it stays open
    let armed = true;
    const closeOnce = () => {
      if (!armed) return;
      armed = false;
      db.close();
    };
    let stop;
    if (how === 'promise hook') {
      stop = promiseHooks.onInit(closeOnce);
    } else {
      const hook = asyncHooks.createHook({ init(id, type) { if (type === 'inmem.wait') closeOnce(); } });
      hook.enable();
      stop = () => hook.disable();
    }
    let p;
    try {
      p = db.wait('kv', null, 'a', { timeoutMs: 2000 });
    } finally {
      stop();
    }
    assert.equal(armed, false, how);
    assert.equal(db.isOpen, false, how);
    await assert.rejects(p, inmem.ClosedError, how);
    other.put('a', 'x');
    other.close();
  }
});

test('an AbortSignal cancels a wait', async (t) => {
  const { db } = freshDb(t);
  const ac = new AbortController();
  const p = db.wait('kv', null, 'k', { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('no longer needed')), 20);
  await assert.rejects(p, /no longer needed/);
  await assert.rejects(db.wait('kv', null, 'k', { signal: AbortSignal.abort() }),
    (e) => e.name === 'AbortError');
  // A signal that aborts after the wait settled does nothing.
  const ac2 = new AbortController();
  const q = db.wait('kv', null, 'k2', { signal: ac2.signal });
  const v = db.put('k2', 'v');
  assert.equal(await q, v);
  ac2.abort();
  assert.throws(() => db.wait('kv', null, 'k', { signal: {} }), inmem.InvalidArgumentError);
});

test('waitSync blocks the thread until the key moves or the time is up', (t) => {
  const { db } = freshDb(t);
  const v = db.put('k', 'v');
  assert.equal(db.waitSync('kv', null, 'k'), v);
  assert.equal(db.waitSync('kv', null, 'k', { after: v - 1, timeoutMs: 10 }), v);
  const t0 = performance.now();
  assert.throws(() => db.waitSync('kv', null, 'k', { after: v, timeoutMs: 50 }), inmem.TimeoutError);
  assert.ok(performance.now() - t0 >= 40);
});

test('bad arguments to wait', async (t) => {
  const { db } = freshDb(t);
  const inval = inmem.InvalidArgumentError;
  assert.throws(() => db.wait('trace', null, 'k'), inval);
  assert.throws(() => db.wait('kv', null, ''), inval);
  assert.throws(() => db.wait('state', null, 'a\0b'), inval);
  assert.throws(() => db.wait('state', null, Buffer.from('x')), inval);
  assert.throws(() => db.wait('kv', 'not-a-run', 'k'), inval);
  assert.throws(() => db.wait('kv', null, 'k', { timeoutMs: -1 }), inval);
  assert.throws(() => db.wait('kv', null, 'k', { after: 'x' }), inval);
  assert.throws(() => db.waitSync('event', null, 'x'.repeat(100)), inmem.TooBigError);
});

const WAKER = `
const { parentPort, workerData } = require('node:worker_threads');
const inmem = require(workerData.pkg);
const db = inmem.open(workerData.dir);
parentPort.once('message', () => {
  db.put('from-worker', 'hello');
  db.close();
  parentPort.postMessage('done');
});
parentPort.postMessage('ready');
`;

test('a commit in a worker thread wakes a wait in the main thread', async (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  t.after(() => db.close());
  const w = new Worker(WAKER, { eval: true, workerData: { pkg: path.resolve(__dirname, '..'), dir } });
  await new Promise((r) => w.once('message', r));
  const p = db.wait('kv', null, 'from-worker', { timeoutMs: 30000 });
  w.postMessage('go');
  const v = await p;
  assert.equal(db.getEntry('from-worker').version, v);
  await new Promise((r) => w.once('exit', r));
});

const ABANDONED = `
const { parentPort, workerData } = require('node:worker_threads');
const inmem = require(workerData.pkg);
const db = inmem.open(workerData.dir);
db.wait('kv', null, 'never').catch(() => {});
db.wait('state', null, 'never', { timeoutMs: 600000 }).catch(() => {});
parentPort.postMessage('waiting');
`;

test('a worker that ends with waits pending is torn down cleanly', async (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  t.after(() => db.close());
  for (let i = 0; i < 3; i++) {
    const w = new Worker(ABANDONED, { eval: true, workerData: { pkg: path.resolve(__dirname, '..'), dir } });
    await new Promise((r) => w.once('message', r));
    const code = await w.terminate();
    assert.equal(code, 1);
  }
  // The database is fine and still wakes its own waiters.
  const p = db.wait('kv', null, 'never', { timeoutMs: 30000 });
  const v = db.put('never', 'now');
  assert.equal(await p, v);
});
