'use strict';
// Bad input and misuse: wrong types, closed databases, freed transactions, limits. Each must be
// an InmemError subclass with the code, never a crash.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { freshDb, tmpdir, inmem } = require('./helpers');

const isCode = (C, code) => (e) => e instanceof C && e instanceof inmem.InmemError &&
  e.code === code && typeof e.errno === 'number' && e.errno < 0 && typeof e.message === 'string';

test('wrong argument types are InvalidArgumentError (INMEM_EINVAL)', (t) => {
  const { db } = freshDb(t);
  const inval = isCode(inmem.InvalidArgumentError, 'INMEM_EINVAL');
  for (const bad of [undefined, null, 42, {}, [], true, Symbol('s'), () => 1]) {
    assert.throws(() => db.put(bad, 'v'), inval, `key ${String(bad)}`);
    assert.throws(() => db.put('k', bad), inval, `value ${String(bad)}`);
  }
  assert.throws(() => db.get('k', { run: 'not-a-run-id' }), inval);
  assert.throws(() => db.get('k', { run: 12 }), inval);
  assert.throws(() => db.get('k', { run: Buffer.alloc(15) }), inval);
  assert.throws(() => db.put('k', 'v', { ttl: -1 }), inval);
  assert.throws(() => db.put('k', 'v', { ttl: 1.5 }), inval);
  assert.throws(() => db.cas('k', 'zero', 'v'), inval);
  assert.throws(() => db.list({ limit: 'ten' }), inval);
  assert.throws(() => db.list('prefix'), inval);
  assert.throws(() => db.events.append(null, 42, 'type', 'p'), inval);
  assert.throws(() => db.events.append(null, 's', 'type', 7), inval);
  assert.throws(() => db.events.append(null, 's\0x', 'type', 'p'), inval);
  assert.throws(() => db.state.set(null, {}, 'v'), inval);
  assert.throws(() => db.runs.end(inmem.newRunId(), 'finished'), inval);
  assert.throws(() => db.runs.begin({ tags: 'one' }), inval);
  assert.throws(() => db.traces.record(null, { kind: 'nap', name: 'x' }), inval);
  assert.throws(() => db.traces.record(null, 'span'), inval);
  assert.throws(() => db.transactSync(42), inval);
  assert.throws(() => inmem.open(42), inval);
  assert.throws(() => inmem.open(tmpdir(t), 'opts'), inval);
  assert.throws(() => inmem.open(tmpdir(t), { maxTxns: -3 }), inval);
  // The library's own range checks come back the same way.
  assert.throws(() => inmem.open(tmpdir(t), { maxKeySize: 1 << 30 }), inval);
});

test('transact rejects a non-function without calling anything', async (t) => {
  const { db } = freshDb(t);
  await assert.rejects(db.transact(42), inmem.InvalidArgumentError);
  await assert.rejects(db.transact(() => {}, { maxAttempts: 0 }), inmem.InvalidArgumentError);
});

test('read() and transactSync() refuse a non-function before beginning anything', (t) => {
  const { db } = freshDb(t);
  for (const bad of [undefined, null, 42, 'fn', {}]) {
    assert.throws(() => db.read(bad), isCode(inmem.InvalidArgumentError, 'INMEM_EINVAL'), String(bad));
    assert.throws(() => db.transactSync(bad), isCode(inmem.InvalidArgumentError, 'INMEM_EINVAL'));
  }
  assert.equal(db.stats().openTxns, 0);
});

test('a closed database throws MisuseError; close is idempotent', (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  db.put('k', 'v');
  db.close();
  db.close();
  const misuse = isCode(inmem.MisuseError, 'INMEM_EMISUSE');
  assert.throws(() => db.get('k'), misuse);
  assert.throws(() => db.put('k', 'v'), misuse);
  assert.throws(() => db.begin(), misuse);
  assert.throws(() => db.stats(), misuse);
  assert.throws(() => db.runs.list(), misuse);
  assert.throws(() => db.events.range(null, 's'), misuse);
  assert.throws(() => db.transactSync(() => 1), misuse);
  assert.equal(db.isOpen, false);
});

test('closing a database with live transactions frees them; they throw afterwards', (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  db.put('a', '1');
  const tx = db.begin();
  const it = tx.scan({ batch: 1 });
  it.next();
  tx.put('b', '2');
  db.close();
  assert.throws(() => tx.get('a'), (e) => e instanceof inmem.MisuseError && /closed/.test(e.message));
  assert.throws(() => tx.commit(), inmem.MisuseError);
  assert.throws(() => it.next(), inmem.MisuseError);
  assert.equal(tx.status, 'freed');
  tx.free();
  const again = inmem.open(dir);
  assert.equal(again.get('b'), undefined, 'the uncommitted write was discarded');
  assert.deepEqual(again.get('a'), Buffer.from('1'));
  again.close();
});

test('a finished transaction: commit twice is TransactionDoneError, use after free is MisuseError', (t) => {
  const { db } = freshDb(t);
  const tx = db.begin();
  tx.put('k', 'v');
  tx.commit();
  assert.throws(() => tx.commit(), isCode(inmem.TransactionDoneError, 'INMEM_ETXNDONE'));
  assert.throws(() => tx.put('k', 'w'), inmem.TransactionDoneError);
  assert.throws(() => tx.abort(), inmem.TransactionDoneError);
  assert.equal(tx.status, 'committed');
  tx.free();
  tx.free();
  assert.throws(() => tx.get('k'), isCode(inmem.MisuseError, 'INMEM_EMISUSE'));
  assert.throws(() => tx.describe(), inmem.MisuseError);
});

test('handles cannot be forged or confused', (t) => {
  const { db } = freshDb(t);
  const b = require('../lib/binding');
  const tx = db.begin();
  assert.throws(() => b.kvGet(db._h, null, 'k', false), inmem.InvalidArgumentError);
  assert.throws(() => b.dbGet(tx._h, null, 'k', false), inmem.InvalidArgumentError);
  assert.throws(() => b.kvGet({}, null, 'k', false), inmem.InvalidArgumentError);
  assert.throws(() => b.iterNext(tx._h, 1), inmem.InvalidArgumentError);
  assert.throws(() => b.txnCommit(null, false), inmem.InvalidArgumentError);
  tx.free();
});

test('sizes beyond the limits are TooBigError', (t) => {
  const { db } = freshDb(t, { maxKeySize: 16, maxValueSize: 64 });
  const toobig = isCode(inmem.TooBigError, 'INMEM_ETOOBIG');
  assert.throws(() => db.put('k'.repeat(17), 'v'), toobig);
  assert.throws(() => db.put('k', 'v'.repeat(65)), toobig);
  assert.throws(() => db.events.append(null, 's'.repeat(64), 't', 'p'), toobig);
  assert.throws(() => db.runs.begin({ tenant: 'x'.repeat(64) }), toobig);
  assert.throws(() => db.traces.record(null, { kind: 'thought', name: 'n'.repeat(100) }), toobig);
  db.put('k'.repeat(16), 'v'.repeat(64));
});

test('the transaction limit is TransactionLimitError', (t) => {
  const { db } = freshDb(t, { maxTxns: 2 });
  const a = db.begin();
  const b = db.begin();
  assert.throws(() => db.begin(), isCode(inmem.TransactionLimitError, 'INMEM_ETXNLIMIT'));
  a.free();
  const c = db.begin();
  b.free();
  c.free();
});

test('every error carries the library\'s details when it gave some', async (t) => {
  // Details used to be kept for five codes only: an open of a file, or a commit time asked of a
  // database keeping none, said just "invalid argument" / "outside the retained history".
  const dir = tmpdir(t);
  const file = path.join(dir, 'a-file');
  require('node:fs').writeFileSync(file, 'x');
  assert.throws(() => inmem.open(file), (e) => e.code === 'INMEM_EINVAL' &&
    /is not a directory/.test(e.details) && e.message.endsWith(e.details));
  await assert.rejects(inmem.openAsync(file), (e) => e.code === 'INMEM_EINVAL' &&
    /is not a directory/.test(e.details));
  const { db } = freshDb(t);
  db.put('k', 'v');
  assert.throws(() => db.versionTime(1), (e) => e.code === 'INMEM_EHISTORY' &&
    typeof e.details === 'string' && e.details.length > 0);
  // and none where the library gave none for this error (a type check of the binding's own)
  assert.throws(() => db.put(42, 'v'), (e) => e.code === 'INMEM_EINVAL');
});

test('an error without details does not get an earlier error\'s', (t) => {
  // The library keeps its last message until another error sets one, and most invalid-argument
  // errors set none: the binding showed the earlier, unrelated message with them.
  const { db } = freshDb(t);
  db.put('k', 'v');
  assert.throws(() => db.begin({ at: 1000 }), (e) => e.code === 'INMEM_EINVAL' &&
    /1000/.test(e.details));
  assert.throws(() => db.put('', 'x'), (e) => e.code === 'INMEM_EINVAL' &&
    !/1000/.test(e.message) && !/1000/.test(e.details || ''));
});

test('lgPut whose payload\'s getter closes the database: MisuseError, nothing written', async (t) => {
  // The addon read the payload's elements (user code) after it took the database: a getter that
  // closed it left a NULL handle, and the write failed as 'invalid argument'.
  const b = require('../lib/binding');
  for (const f of ['lgPut', 'lgPutAsync']) {
    const db = inmem.open(path.join(tmpdir(t), f));
    const payload = ['json', '{}'];
    Object.defineProperty(payload, 2, { get() { db.close(); return 'json'; }, enumerable: true });
    payload.push('{}');
    await assert.rejects(async () => b[f](db._h, inmem.newRunId(), 't', 'langgraph', null, '',
      '0001', null, 0, payload, '', '', ''), isCode(inmem.MisuseError, 'INMEM_EMISUSE'));
    assert.equal(db.isOpen, false);
  }
});

test('another process holding the directory: LockedError with the holder in its details', (t) => {
  const { dir } = freshDb(t);
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    try { inmem.open(process.argv[1]); console.log('opened'); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, details: e.details,
      isInmem: e instanceof inmem.InmemError })); }`;
  const r = spawnSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', env: process.env });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.name, 'LockedError');
  assert.equal(out.code, 'INMEM_ELOCKED');
  assert.equal(out.isInmem, true);
  assert.match(out.details, new RegExp(String(process.pid)));
});

test('a read-only open beside a writer sees the committed state and refuses writes', (t) => {
  const { db, dir } = freshDb(t);
  db.put('k', 'v');
  // a refused write is a commit an error ended (stats().abortsError), never a commit
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const ro = inmem.open(process.argv[1], { readOnly: true });
    let code = 'none';
    try { ro.put('x', 'y'); } catch (e) { code = e.code; }
    const s = ro.stats();
    console.log(JSON.stringify({ k: ro.get('k').toString(), code, commits: s.commits,
                                 abortsError: s.abortsError }));
    ro.close();`;
  const r = spawnSync(process.execPath, ['-e', script, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout),
    { k: 'v', code: 'INMEM_EREADONLY', commits: 0, abortsError: 1 });
});

test('a corrupt log is CorruptError naming the file and offset; repair opens it', (t) => {
  const fs = require('node:fs');
  const dir = tmpdir(t);
  // Strict: every commit is synced, so later records vouch that a damaged one was durable.
  const db = inmem.open(dir, { durability: 'strict' });
  for (let i = 0; i < 50; i++) db.put(`k${i}`, 'x'.repeat(100));
  const written = db.stats().walBytes;
  db.close();
  const seg = fs.readdirSync(dir).filter((f) => f.startsWith('wal-')).sort()[0];
  const file = path.join(dir, seg);
  const buf = fs.readFileSync(file);
  buf[Math.floor(written / 2)] ^= 0xff; // in a record in the middle of the log
  fs.writeFileSync(file, buf);
  const err = assert.throws(() => inmem.open(dir), isCode(inmem.CorruptError, 'INMEM_ECORRUPT'));
  void err;
  let caught;
  try {
    inmem.open(dir);
  } catch (e) {
    caught = e;
  }
  assert.match(caught.details, /wal-0+1\.log is corrupt at offset \d+/);
  assert.ok(!/^corrupt data/.test(caught.details), 'details do not repeat the message');
  assert.match(caught.message, /^corrupt data: /);
  const repaired = inmem.open(dir, { repair: true });
  const rec = repaired.recovery();
  assert.equal(rec.repaired, true);
  assert.match(rec.repairFile, /wal-/);
  assert.ok(rec.bytesDropped > 0);
  repaired.close();
});

test('error classes map every library code', () => {
  const names = Object.keys(inmem.errorCodes);
  assert.ok(names.length >= 17);
  const { byCode } = require('../lib/errors');
  for (const code of names) {
    assert.ok(byCode[code], `a class for ${code}`);
    assert.equal(typeof inmem.errorCodes[code].errno, 'number');
  }
});

test('a huge or sparse array fails at once, allocating nothing by its length', (t) => {
  // getMany, putMany and events.appendBatch take at most 2^20 keys, pairs or events: a longer
  // array is refused before anything is read or allocated, and a hole (a sparse array's
  // element) is refused where it is, not after reading up to 2^32 - 1 of them.
  const { db } = freshDb(t);
  const tx = db.begin();
  t.after(() => tx.free());
  const sparse = (n) => { const a = []; a.length = n; return a; };
  const tooMany = (what) => (e) => e instanceof inmem.InvalidArgumentError &&
    new RegExp(`^invalid argument: ${what} has \\d+ elements: at most \\d+ in one call$`).test(e.message);
  for (const n of [2 ** 32 - 2, 2 ** 31, 2 ** 24 + 2, 2 ** 21 + 2]) {
    assert.throws(() => tx.getMany(sparse(n)), tooMany('keys'), `getMany ${n}`);
    assert.throws(() => tx.putMany(sparse(n)), tooMany('pairs'), `putMany ${n}`);
    assert.throws(() => db.events.appendBatch(null, 's', sparse(n)), tooMany('events'), `appendBatch ${n}`);
    assert.throws(() => tx.events.appendBatch(null, 's', sparse(n)), tooMany('events'));
  }
  assert.throws(() => tx.putMany(sparse(2 ** 32 - 1)), /even length/);
  assert.throws(() => tx.getMany(new Array(2 ** 20 + 1).fill('k')), tooMany('keys'));
  // Within the limit, a hole is named by its index.
  const hole = (what, i) => (e) => e instanceof inmem.InvalidArgumentError &&
    e.message.includes(`${what}[${i}] must be`);
  assert.throws(() => tx.getMany(sparse(2 ** 20)), hole('keys', 0));
  assert.throws(() => tx.putMany(sparse(2 ** 20)), hole('pairs', 0));
  assert.throws(() => db.events.appendBatch(null, 's', sparse(2 ** 20)), hole('events', 0));
  assert.throws(() => tx.getMany(['a', , 'b']), hole('keys', 1)); // eslint-disable-line no-sparse-arrays
  assert.throws(() => tx.putMany(['a', 'b', 'c', 7]), hole('pairs', 3));
  assert.throws(() => db.events.appendBatch(null, 's', [{ type: 't', payload: 'p' }, null]), hole('events', 1));
  // Nothing was written, and ordinary batches still work.
  tx.putMany(['a', '1', 'b', '2']);
  assert.deepEqual(tx.getMany(['a', 'b', 'c']).map((e) => e.value && e.value.toString()), ['1', '2', undefined]);
  assert.equal(db.events.appendBatch(null, 's', [{ type: 't', payload: 'p' }]), 1);
});

// User code that runs while a call converts its arguments (getters on array elements, on event
// fields) may end the transaction, start an async call on it or detach a buffer already read:
// the call must see that, never write into a committing transaction or read a detached buffer.
test('a getter that starts commitAsync() inside putMany() stops the puts', async (t) => {
  const { db } = freshDb(t);
  const tx = db.begin();
  let p;
  const pairs = [];
  for (let i = 0; i < 2000; i++) pairs.push('p' + i, 'x');
  Object.defineProperty(pairs, 0, { get() { p = tx.commitAsync(); return 'p0'; } });
  assert.throws(() => tx.putMany(pairs), (e) => e.code === 'INMEM_EMISUSE');
  await p;
  assert.equal(db.list({ prefix: 'p', limit: 5000 }).length, 0);
});

test('a getter that detaches an earlier key\'s buffer inside getMany() is seen', (t) => {
  const { db } = freshDb(t);
  const key = 'key-' + 'a'.repeat(60);
  db.put(key, 'v');
  const tx = db.begin();
  const k0 = new Uint8Array(Buffer.from(key)); // its own ArrayBuffer
  const keys = [k0, 'x'];
  Object.defineProperty(keys, 1, { get() {
    structuredClone(k0.buffer, { transfer: [k0.buffer] }); // detaches k0
    return 'x';
  } });
  // k0 is empty once detached: not a key (the call must not read the detached memory)
  assert.throws(() => tx.getMany(keys), (e) => e.code === 'INMEM_EINVAL');
  assert.equal(tx.getMany([key, 'x'])[0].value.toString(), 'v');
  tx.free();
});

test('a getter that frees the transaction inside runs.begin/fork/list or traces.record/query is seen', (t) => {
  const { db } = freshDb(t);
  const parent = db.runs.begin();
  const calls = {
    'runs.begin': (tx, g) => tx.runs.begin(g),
    'runs.fork': (tx, g) => tx.runs.fork(parent, g),
    'runs.list': (tx, g) => tx.runs.list(g),
    'traces.record': (tx, g) => tx.traces.record(null, { kind: 'thought', name: 'n', ...g }),
    'traces.query': (tx, g) => tx.traces.query(null, g),
  };
  for (const [what, call] of Object.entries(calls)) {
    const tx = db.begin();
    const g = Object.defineProperty({}, what.startsWith('traces') ? 'tag' : 'tenant', {
      enumerable: true, get() { tx.free(); return 'acme'; },
    });
    if (what === 'traces.record') {
      assert.throws(() => call(tx, { get tags() { tx.free(); return ['x']; } }),
        inmem.MisuseError, what);
    } else {
      assert.throws(() => call(tx, g), inmem.MisuseError, what);
    }
  }
  assert.deepEqual(db.runs.list({ tenant: 'acme' }), []);
});

test('a getter that closes the database inside runs.begin/fork/list or traces.record is seen', () => {
  for (const what of ['runs.begin', 'runs.list', 'traces.record', 'runs.fork']) {
    const db = inmem.open(null, { durability: 'none' });
    const parent = db.runs.begin();
    const g = { get tenant() { db.close(); return undefined; }, get name() { db.close(); return 'n'; },
      kind: 'thought' };
    const call = {
      'runs.begin': () => db.runs.begin(g),
      'runs.list': () => db.runs.list(g),
      'traces.record': () => db.traces.record(null, g),
      'runs.fork': () => db.runs.fork(parent, g),
    }[what];
    assert.throws(call, (e) => e instanceof inmem.MisuseError && /closed/.test(e.message), what);
  }
});

test('a getter that closes the database inside transactSync/state.transition options is seen', () => {
  for (const what of ['transactSync', 'state.transition']) {
    const db = inmem.open(null, { durability: 'none' });
    let ran = 0;
    const opts = { get maxAttempts() { db.close(); return 3; } };
    const call = what === 'transactSync'
      ? () => db.transactSync((tx) => { ran++; tx.put('a', 'b'); }, opts)
      : () => db.state.transition(null, 'c', () => { ran++; return 'x'; }, opts);
    assert.throws(call, (e) => e instanceof inmem.MisuseError && /closed/.test(e.message), what);
    assert.equal(ran, 0, what);
  }
});

test('a getter that detaches the input\'s buffer inside traces.record() is seen', (t) => {
  const { db } = freshDb(t);
  const tx = db.begin();
  const ab = new ArrayBuffer(1 << 16);
  new Uint8Array(ab).fill(7);
  const id = tx.traces.record(null, { kind: 'thought', name: 'x', input: new Uint8Array(ab),
    get output() { structuredClone(ab, { transfer: [ab] }); return 'o'; } });
  // The input is read as it is when the call takes the bytes: detached, so empty (never the
  // freed memory the buffer had).
  const s = tx.traces.get(null, id);
  assert.equal(s.input.length, 0);
  assert.equal(s.output.toString(), 'o');
  tx.free();
});

test('a getter that throws stops the call before anything is stored', (t) => {
  const { db } = freshDb(t);
  const boom = () => { throw new Error('boom'); };
  assert.throws(() => db.runs.begin({ app: 'x', get tenant() { return boom(); } }), /boom/);
  assert.throws(() => db.runs.begin({ get history() { return boom(); } }), /boom/);
  assert.deepEqual(db.runs.list({}), []);
  const tx = db.begin();
  assert.throws(() => tx.runs.begin({ get tags() { return boom(); } }), /boom/);
  assert.throws(() => tx.runs.begin({ tags: Object.defineProperty(['a'], 0, { get: boom }) }), /boom/);
  tx.commit();
  tx.free();
  assert.deepEqual(db.runs.list({}), []);
  assert.throws(() => db.runs.list({ get tenant() { return boom(); } }), /boom/);
  assert.throws(() => db.runs.list({ get parent() { return boom(); } }), /boom/);
  for (const field of ['input', 'output', 'confidence', 'tags', 'name', 'kind']) {
    const span = { kind: 'thought', name: 'n' };
    Object.defineProperty(span, field, { enumerable: true, get: boom });
    assert.throws(() => db.traces.record(null, span), /boom/, field);
  }
  assert.equal(db.traces.query(null, {}).length, 0);
  assert.throws(() => db.traces.query(null, { get tag() { return boom(); } }), /boom/);
  const events = [{ type: 't', payload: 'p' }];
  Object.defineProperty(events, 0, { get: boom });
  assert.throws(() => db.events.appendBatch(null, 's', events), /boom/);
  assert.throws(() => db.events.appendBatch(null, 's', [{ type: 't', get payload() { return boom(); } }]), /boom/);
  assert.equal(db.events.range(null, 's').length, 0);
  const keys = ['a', 'b'];
  Object.defineProperty(keys, 1, { get: boom });
  db.read((rtx) => assert.throws(() => rtx.getMany(keys), /boom/));
  assert.throws(() => inmem.open(null, { durability: 'none', get readOnly() { return boom(); } }), /boom/);
});

test('a replay next() that finds its transaction busy goes on afterwards', async (t) => {
  const { db } = freshDb(t, { historyVersions: 100 });
  const run = db.runs.begin();
  for (let i = 0; i < 10; i++) db.put('k' + i, 'v', { run });
  const tx = db.begin({ readOnly: true });
  const rp = tx.runs.replay(run, { batch: 1 });
  const seen = [rp.next().value.version];
  const total = [...tx.runs.replay(run)].length;
  const p = tx.scanAsync({ run }); // busy until it settles
  assert.throws(() => rp.next(), (e) => e.code === 'INMEM_EMISUSE' && /busy/.test(e.message));
  await p;
  for (let r; !(r = rp.next()).done;) seen.push(r.value.version);
  assert.equal(seen.length, total);
  tx.free();
});

test('a setter on Array.prototype does not run while result arrays are built', (t) => {
  // Result arrays are filled by definition too: an inherited index setter (user code) that
  // frees the iterator, the replay or the transaction must not run in the middle of a batch.
  const { db } = freshDb(t, { historyVersions: 100 });
  const run = db.runs.begin({ tags: ['a', 'b'] });
  for (let i = 0; i < 20; i++) {
    const k = 'k' + String(i).padStart(2, '0');
    db.put(k, Buffer.alloc(512, 65 + i));
    db.put(k, Buffer.alloc(512, 65 + i), { run });
    db.state.set(run, k, Buffer.alloc(512, 65 + i));
    db.events.append(run, 'st', 't', Buffer.alloc(512, 65 + i));
    db.traces.record(run, { kind: 'thought', name: k, tags: ['x', 'y'] });
  }
  const want = Array.from({ length: 20 }, (_, i) => 65 + i);
  let victim = () => {};
  let ran = 0;
  for (const i of [0, 1]) {
    Object.defineProperty(Array.prototype, i, {
      configurable: true,
      set(v) {
        ran++;
        victim();
        Object.defineProperty(this, i, { value: v, writable: true, enumerable: true, configurable: true });
      },
    });
  }
  try {
    const calls = {
      'iterator next': (tx) => {
        const it = tx.scan({ prefix: 'k', batch: 50 });
        victim = () => { it.free(); tx.free(); };
        return [...it].map((e) => e.value[0]);
      },
      'replay next': () => {
        const rp = db.runs.replay(run, { after: 0, batch: 50 });
        victim = () => rp.free();
        return [...rp].filter((r) => r.changes[0].primitive === 'kv').map((r) => r.changes[0].value[0]);
      },
      'list': (tx) => tx.list({ prefix: 'k' }).map((e) => e.value[0]),
      'getMany': (tx) => tx.getMany(want.map((_, i) => 'k' + String(i).padStart(2, '0'))).map((e) => e.value[0]),
      'state.list': (tx) => tx.state.list(run).map((e) => e.value[0]),
      'events.range': (tx) => tx.events.range(run, 'st').map((e) => e.payload[0]),
      'traces.query': (tx) => tx.traces.query(run, {}).map((s) => s.name.charCodeAt(2) - 48 + 65 +
        10 * (s.name.charCodeAt(1) - 48)),
      'runs.get': (tx) => tx.runs.get(run).tags,
      'history': (tx) => tx.history('k00', { run }).map((e) => e.value[0]),
    };
    for (const [what, call] of Object.entries(calls)) {
      const tx = db.begin();
      victim = () => tx.free();
      ran = 0;
      const r = call(tx);
      victim = () => {};
      if (what === 'runs.get') assert.deepEqual(r, ['a', 'b'], what);
      else if (what === 'history') assert.deepEqual(r, [65], what);
      else assert.deepEqual(r, want, what);
      tx.free();
    }
  } finally {
    delete Array.prototype[0];
    delete Array.prototype[1];
  }
});

test('a setter on Object.prototype does not run while results are built', (t) => {
  // Results are defined, not assigned: an inherited setter (user code) would run while the call
  // holds bytes borrowed from the transaction, and could free it.
  const { db } = freshDb(t);
  const tx = db.begin();
  tx.put('a', Buffer.alloc(4096, 0x61));
  const it = tx.scan({ batch: 4 });
  let ran = 0;
  Object.defineProperty(Object.prototype, 'key', {
    configurable: true, set() { ran++; tx.free(); },
  });
  try {
    const e = it.next().value;
    assert.equal(e.key.toString(), 'a');
    assert.equal(e.value.length, 4096);
    assert.equal(ran, 0);
  } finally {
    delete Object.prototype.key;
  }
  tx.free();
});
