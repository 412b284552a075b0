'use strict';
// Transactions under concurrency: worker threads share one database (a directory is one inmem
// database per process, whichever thread opens it) and contend on the same keys.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const { tmpdir, inmem } = require('./helpers');

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const inmem = require(workerData.pkg);
const db = inmem.open(workerData.dir);
const opts = { maxAttempts: 100000, backoffInitialUs: 10, backoffMaxUs: 2000 };
(async () => {
  let conflicts = 0;
  for (let i = 0; i < workerData.iterations; i++) {
    // A contended counter: read, then write; a lost update would show in the final count.
    await db.transact((tx) => {
      const n = Number((tx.get('counter') || '0').toString());
      tx.put('counter', String(n + 1));
    }, opts);
    // A bank transfer between two of the accounts: the sum must never change.
    const a = (i * 7 + workerData.id) % workerData.accounts;
    const b = (a + 1 + (i % (workerData.accounts - 1))) % workerData.accounts;
    db.transactSync((tx) => {
      const va = Number(tx.get('acct' + a).toString());
      const vb = Number(tx.get('acct' + b).toString());
      tx.put('acct' + a, String(va - 3));
      tx.put('acct' + b, String(vb + 3));
    }, opts);
    // A state-cell claim: exactly one worker may claim each task.
    try {
      db.state.cas(null, 'task' + (i % workerData.tasks), 0, 'w' + workerData.id);
    } catch (e) {
      if (!(e instanceof inmem.ConflictError)) throw e;
      conflicts++;
    }
  }
  const s = db.stats();
  db.close();
  parentPort.postMessage({ conflicts, retries: s.retries });
})().catch((e) => { parentPort.postMessage({ error: String(e && e.stack || e) }); });
`;

function runWorker(data) {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: data });
    let msg;
    w.on('message', (m) => { msg = m; });
    w.on('error', reject);
    w.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}`));
      else if (!msg || msg.error) reject(new Error(msg ? msg.error : 'no result'));
      else resolve(msg);
    });
  });
}

test('worker threads: no lost update, transfers keep their sum, each task claimed once', async (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  const accounts = 8;
  const tasks = 50;
  for (let i = 0; i < accounts; i++) db.put('acct' + i, '1000');
  const workers = 4;
  const iterations = 150;
  const pkg = path.join(__dirname, '..');
  // The main thread keeps reading consistent snapshots while the workers write.
  let reading = true;
  let snapshots = 0;
  const reader = (async () => {
    while (reading) {
      const sum = db.read((tx) => {
        let s = 0;
        for (let i = 0; i < accounts; i++) s += Number(tx.get('acct' + i).toString());
        return s;
      });
      assert.equal(sum, accounts * 1000, 'a snapshot never shows half a transfer');
      snapshots++;
      await new Promise((r) => setImmediate(r));
    }
  })();
  const results = await Promise.all(Array.from({ length: workers }, (_, id) =>
    runWorker({ pkg, dir, id, iterations, accounts, tasks })));
  reading = false;
  await reader;
  assert.ok(snapshots > 0);
  assert.equal(Number(db.get('counter').toString()), workers * iterations);
  let sum = 0;
  for (let i = 0; i < accounts; i++) sum += Number(db.get('acct' + i).toString());
  assert.equal(sum, accounts * 1000);
  const claimed = db.read((tx) => tx.state.list(null, { limit: 1000 }));
  assert.equal(claimed.length, tasks);
  const failedClaims = results.reduce((n, r) => n + r.conflicts, 0);
  assert.equal(failedClaims, workers * iterations - tasks, 'every other claim conflicted');
  db.close();
  // Every worker closed its handle and the main thread closed its own: the directory is free.
  const again = inmem.open(dir);
  assert.equal(Number(again.get('counter').toString()), workers * iterations);
  again.close();
});

test('a worker that exits without closing releases its handle (finalizers run at exit)', async (t) => {
  const dir = tmpdir(t);
  const code = `
    const { workerData } = require('node:worker_threads');
    const inmem = require(workerData.pkg);
    const db = inmem.open(workerData.dir);
    const tx = db.begin();
    tx.put('pending', 'x');
    db.put('done', 'yes');`;
  await new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { pkg: path.join(__dirname, '..'), dir } });
    w.on('error', reject);
    w.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`exit ${c}`))));
  });
  // Had the worker's handle leaked, this open would share a database that still has an open
  // transaction; instead it is a fresh open that recovers the log.
  const db = inmem.open(dir);
  assert.equal(db.get('done').toString(), 'yes');
  assert.equal(db.get('pending'), undefined);
  assert.equal(db.stats().openTxns, 0);
  assert.ok(db.recovery().txnsApplied >= 1, 'the directory was reopened, not shared');
  db.close();
});

test('opening a directory already open in this process shares it; options must match', (t) => {
  const dir = tmpdir(t);
  const a = inmem.open(dir);
  const b = inmem.open(dir);
  a.put('k', 'v');
  assert.equal(b.get('k').toString(), 'v');
  assert.throws(() => inmem.open(dir, { durability: 'strict' }), inmem.InvalidArgumentError);
  a.close();
  assert.equal(b.get('k').toString(), 'v', 'the other handle still works');
  b.close();
});

test('iterators collected while scanAsync() runs are freed after it, not during', (t) => {
  // Freeing an iterator unlinks it from its transaction, which a pool thread is using: the
  // finalizer of one collected meanwhile must wait for the work (under ThreadSanitizer, the
  // race this was shows as a report, and the child exits non-zero).
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const db = inmem.open(null, { durability: 'none', maxTxns: 8 });
    const N = 5000;
    const tx0 = db.begin();
    for (let i = 0; i < N; i++) tx0.put('k' + String(i).padStart(7, '0'), Buffer.alloc(64, 1));
    tx0.commit();
    tx0.free();
    const tick = () => new Promise((r) => setImmediate(r));
    (async () => {
      for (let round = 0; round < 6; round++) {
        const tx = db.begin({ readOnly: true });
        (() => { for (let i = 0; i < 500; i++) tx.scan({ prefix: 'k' + (i % 10) }).next(); })();
        const p = tx.scanAsync({ prefix: 'k' });
        for (let k = 0; k < 4; k++) { global.gc(); await tick(); }
        const r = await p;
        if (r.length !== N) throw new Error('scanAsync found ' + r.length + ' of ' + N);
        tx.free();
      }
      // Every collected iterator was freed in the end: its transaction could be freed.
      global.gc();
      await tick();
      console.log(JSON.stringify(db.stats().openTxns));
      db.close();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script],
    { encoding: 'utf8', maxBuffer: 1 << 24 });
  // Under ThreadSanitizer node itself (not instrumented) brings reports of its own and exit
  // status 66: only a report whose race is in the library or the addon counts (its summary
  // names a file of src/ or the addon; node's name node or libsanitizer).
  const tsan = /libtsan/.test(process.env.LD_PRELOAD || '');
  const ours = r.stderr.split('\n')
    .filter((l) => /^SUMMARY: ThreadSanitizer: [\w ]+? (src\/|\S*inmem\.node)/.test(l));
  assert.deepEqual(ours, [], 'a data race in the addon or the library');
  assert.equal(r.status, tsan && r.status === 66 ? 66 : 0, r.stderr.slice(0, 4000));
  assert.equal(r.stdout.trim(), '0');
});
