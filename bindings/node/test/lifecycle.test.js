'use strict';
// Lifetimes: finalizers free what the user forgot, nothing leaks over a million calls, and
// handles dropped in any order never crash.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { tmpdir } = require('./helpers');

function node(args, opts) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24, ...opts });
}

// Under AddressSanitizer (make test-node SAN=address preloads its runtime) RSS follows the
// sanitizer's allocator, whose quarantine keeps freed memory for a while: it wanders by 10 MB
// and more with no leak at all. The plain build runs this test.
const sanitized = /lib[at]san/.test(process.env.LD_PRELOAD || '');

test('no leaks over a million calls: RSS is flat after warm-up', {
  skip: sanitized && 'under a sanitizer, RSS measures its allocator: run in the plain build',
}, (t) => {
  const dir = tmpdir(t);
  // A million calls to warm up (JIT, V8's heap sizing, the allocator's pools), then a million
  // measured. One malloc arena: the async calls allocate on pool threads, whose arenas grow and
  // shrink on their own and moved RSS by a few MB either way (a leak shows in any arena).
  const r = node(['--expose-gc', path.join(__dirname, 'fixtures', 'leak.js'), dir, '2000000'],
    { env: { ...process.env, MALLOC_ARENA_MAX: '1' } });
  assert.equal(r.status, 0, r.stderr);
  const { samples, openTxns } = JSON.parse(r.stdout);
  const last = samples[samples.length - 1];
  assert.ok(last.calls >= 2000000, `made ${last.calls} calls`);
  // From the first sample past a million calls: a leak of 4 bytes per call would add 4 MB.
  const warm = samples.find((s) => s.calls >= 1000000);
  assert.ok(last.calls - warm.calls >= 900000);
  const growth = last.rssMb - warm.rssMb;
  assert.ok(growth < 4, `RSS grew ${growth.toFixed(1)} MB from ${warm.calls} to ${last.calls} ` +
    `calls: ${JSON.stringify(samples)}`);
  // Each round leaves 100 transactions to the collector; 200 rounds' worth have come and gone.
  assert.ok(openTxns < 100, `the finalizers freed forgotten transactions (${openTxns} open)`);
});

test('transactions and iterators left to the garbage collector are freed', (t) => {
  const dir = tmpdir(t);
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const db = inmem.open(process.argv[1], { maxTxns: 64 });
    db.put('a', '1');
    const tick = () => new Promise((r) => setImmediate(r));
    (async () => {
      // Far more transactions than maxTxns: only possible if forgotten ones are finalized
      // (Node runs finalizers after the collection, on a later turn of the event loop).
      for (let i = 0; i < 2000; i++) {
        const tx = db.begin();
        tx.get('a');
        tx.scan({}).next();
        if (i % 32 === 31) { global.gc(); await tick(); }
      }
      global.gc();
      await tick();
      global.gc();
      await tick();
      console.log(JSON.stringify(db.stats().openTxns));
      db.close();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = node(['--expose-gc', '-e', script, dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Number(r.stdout) < 32, `open transactions after GC: ${r.stdout}`);
});

test('a database dropped with live transactions is closed by its finalizer, in any order', (t) => {
  const dir = tmpdir(t);
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const dir = process.argv[1];
    (function () {
      const db = inmem.open(dir);
      db.put('k', 'v');
      const tx = db.begin();
      tx.put('x', 'y');
      const it = tx.scan({});
      it.next();
      // db, tx and it all become garbage together: their finalizers run in no set order.
    })();
    global.gc();
    setImmediate(() => {
      global.gc();
      setImmediate(() => {
        // Had the handle not been released, this would share the old database.
        const db2 = inmem.open(dir);
        console.log(JSON.stringify({ k: db2.get('k').toString(), open: db2.stats().openTxns,
          reopened: db2.recovery().txnsApplied }));
        db2.close();
      });
    });`;
  const r = node(['--expose-gc', '-e', script, dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { k: 'v', open: 0, reopened: 1 });
});

test('a database collected while a transaction\'s async call runs is closed after it', (t) => {
  // The Database object becomes garbage while a scanAsync() on one of its transactions runs on
  // the thread pool: its finalizer must leave the database open until the call has settled.
  const dir = tmpdir(t);
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const dir = process.argv[1];
    function start() {
      const db = inmem.open(dir, { durability: 'none' });
      const tx0 = db.begin();
      const val = Buffer.alloc(100, 'v');
      for (let i = 0; i < 100000; i++) tx0.put('k' + String(i).padStart(7, '0'), val);
      tx0.commit(); tx0.free();
      return db.begin({ readOnly: true }).scanAsync({}); // only the promise is kept
    }
    const p = start();
    for (let i = 0; i < 3; i++) global.gc();
    p.then((rows) => {
      global.gc();
      setImmediate(() => {
        const db2 = inmem.open(dir, { durability: 'none' }); // the first was closed: not shared
        console.log(JSON.stringify({ rows: rows.length, open: db2.stats().openTxns }));
        db2.close();
      });
    }, (e) => { console.log(JSON.stringify({ error: e.message })); });`;
  const r = node(['--expose-gc', '-e', script, dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { rows: 100000, open: 0 });
});

test('closing with async work in flight is refused, then allowed once it settles', async (t) => {
  const inmem = require('..');
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  const tx = db.begin();
  tx.put('k', 'v');
  const p = tx.commitAsync();
  assert.throws(() => db.close(), inmem.BusyError);
  await assert.rejects(db.closeAsync(), inmem.BusyError);
  await p;
  await db.closeAsync();
  assert.equal(db.isOpen, false);
  await db.closeAsync();
  const db2 = await inmem.openAsync(dir);
  assert.equal(db2.get('k').toString(), 'v');
  await db2.closeAsync();
  await assert.rejects(inmem.openAsync(dir, { durability: 'fast' }), inmem.InvalidArgumentError);
});

test('tx.list with a large limit allocates for what it finds, not for the limit', {
  skip: sanitized && 'a sanitizer reserves terabytes of address space: ulimit -v cannot apply',
}, (t) => {
  // A limit of 2^24 once took 2^24 entries (640 MB) up front. The child's address space is
  // capped at 400 MB more than a node process that has listed nothing needs.
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const db = inmem.open(null, { durability: 'none' });
    for (let i = 0; i < 1000; i++) db.put('k' + i, 'v');
    const n = db.read((tx) => tx.list({ limit: 2 ** 24 }).length + tx.list({ prefix: 'k1', limit: 2 ** 24 }).length);
    console.log(n);`;
  const vm = /VmSize:\s*(\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
  const cap = Number(vm[1]) + 400 * 1024;
  const r = spawnSync('sh', ['-c', `ulimit -v ${cap} && exec "$0" -e "$1"`, process.execPath, script],
    { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(1000 + 111));
});
