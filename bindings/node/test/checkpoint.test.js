'use strict';
// Checkpoints and backups through the binding (docs/CONTRACT.md 2.9-2.12): a checkpoint recovers
// exactly and recovery names its image; deletion is erasure once a checkpoint has passed it (a
// deleted run, an InmemSaver thread); a backup taken while a worker thread writes opens to
// exactly the version it returned; the stats and recovery fields move; the options reach the
// library; the errors are the library's.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { Worker } = require('node:worker_threads');
const { tmpdir, inmem } = require('./helpers');

const imageName = (v) => `ckpt-${v.toString(16).padStart(16, '0')}.img`;
const images = (dir) => fs.readdirSync(dir).filter((f) => /^ckpt-[0-9a-f]{16}\.img$/.test(f));

// Everything a database holds that these tests write, with versions: equal dumps, equal state.
function dump(db, runs) {
  return db.read((tx) => {
    const out = { shared: tx.list({ limit: 100000 }), runs: {} };
    for (const run of runs) {
      out.runs[run] = {
        info: tx.runs.get(run),
        kv: tx.list({ run, limit: 100000 }),
        events: tx.events.range(run, 'log', { limit: 100000 }),
        cells: tx.state.list(run, { limit: 100000 }),
      };
    }
    return out;
  });
}

// Which files of dir hold the bytes of marker.
function filesHolding(dir, marker) {
  const needle = Buffer.from(marker);
  const found = [];
  const walk = (d) => {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, f.name);
      if (f.isDirectory()) walk(p);
      else if (fs.readFileSync(p).includes(needle)) found.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return found;
}

function fill(db) {
  const run = db.runs.begin({ tags: ['ckpt'], agent: 'a' });
  for (let i = 0; i < 200; i++) db.put(`k${i}`, `value ${i} `.repeat(10), { run });
  for (let i = 0; i < 200; i += 3) db.put(`k${i}`, `overwritten ${i}`, { run });
  for (let i = 1; i < 200; i += 7) db.delete(`k${i}`, { run });
  db.events.appendBatch(run, 'log', Array.from({ length: 20 }, (_, i) => ({ type: 't', payload: `e${i}` })));
  db.state.set(run, 'phase', 'planning');
  db.state.set(run, 'phase', 'acting');
  db.put('shared', 'in the shared scope');
  return run;
}

test('checkpoint and reopen: the same state, and recovery starts from the image it names', (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  const run = fill(db);
  const before = db.stats();
  assert.equal(before.checkpoints, 0);
  assert.equal(before.checkpointVersion, 0);
  assert.ok(before.walBytesSinceCheckpoint > 0);

  const v = db.checkpoint();
  assert.equal(v, before.version, 'the checkpoint covers the newest commit');
  assert.deepEqual(images(dir), [imageName(v)]);
  assert.equal(db.checkpoint(), v, 'nothing committed since: the same image');

  db.put('after', '1', { run });
  db.put('after', '2', { run });
  const want = dump(db, [run]);
  db.close();

  const again = inmem.open(dir);
  const r = again.recovery();
  assert.equal(r.checkpointVersion, v);
  assert.equal(r.checkpointFile, imageName(v));
  assert.equal(r.txnsApplied, 2, 'only the commits after the image are replayed');
  assert.equal(r.version, v + 2);
  assert.equal(r.checkpointFallback, false);
  assert.equal(r.keysDropped, 0);
  assert.ok(r.checkpointLoadUs <= r.timeUs);
  assert.deepEqual(dump(again, [run]), want);
  assert.equal(again.events.verify(run, 'log'), 0, 'the event chain survives the image');
  again.close();
});

test('stats move with a checkpoint: count, version, bytes, time, log since, live bytes', async (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  t.after(() => db.close());
  fill(db);
  const s0 = db.stats();
  assert.equal(s0.checkpointError, null);
  assert.ok(s0.liveBytes > 0);

  const v = await db.checkpointAsync();
  const s1 = db.stats();
  assert.equal(s1.checkpoints, 1);
  assert.equal(s1.checkpointFailures, 0);
  assert.equal(s1.checkpointVersion, v);
  assert.equal(s1.checkpointBytes, fs.statSync(path.join(dir, imageName(v))).size);
  assert.ok(s1.checkpointTimeUs > 0);
  assert.equal(s1.walBytesSinceCheckpoint, 0, 'the image holds everything logged');
  assert.equal(s1.checkpointError, null);

  db.put('big', Buffer.alloc(1000, 7));
  const s2 = db.stats();
  assert.ok(s2.walBytesSinceCheckpoint >= 1000);
  assert.ok(s2.liveBytes - s1.liveBytes >= 1000);
  db.delete('big');
  assert.ok(s2.liveBytes - db.stats().liveBytes >= 1000);
  assert.equal(await db.checkpointAsync(), db.stats().version);
  assert.equal(db.stats().checkpoints, 2);
});

test('deletion is erasure: a deleted run leaves no byte in any file once a checkpoint passed', (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  t.after(() => db.close());
  const marker = `ERASE-ME-${crypto.randomBytes(8).toString('hex')}`;
  const run = db.runs.begin({ tags: ['secret'] });
  db.put('secret', marker, { run });
  db.events.append(run, 'log', 'said', `the marker: ${marker}`);
  db.state.set(run, 'cell', marker);
  db.put('kept', 'not secret', { run: null });
  const overwritten = `${marker}-overwritten`;
  db.put('o', overwritten);
  db.put('o', 'new value');
  assert.ok(filesHolding(dir, marker).length > 0, 'the log holds the marker before');

  db.runs.delete(run);
  assert.ok(filesHolding(dir, marker).length > 0, 'a delete alone does not erase the log');
  db.checkpoint();
  assert.deepEqual(filesHolding(dir, marker), [], 'no file holds the deleted run\'s bytes');
  assert.deepEqual(filesHolding(dir, overwritten), [], 'nor an overwritten value');
  assert.equal(db.get('kept').toString(), 'not secret');
  assert.equal(db.get('o').toString(), 'new value');
});

test('InmemSaver.deleteThread followed by a checkpoint erases the thread from every file', async (t) => {
  const { InmemSaver } = await import('../langgraph/index.mjs');
  const { uuid6 } = await import('@langchain/langgraph-checkpoint');
  const dir = tmpdir(t);
  const saver = new InmemSaver({ path: dir });
  t.after(() => saver.close());
  const marker = `THREAD-SECRET-${crypto.randomBytes(8).toString('hex')}`;
  const keep = `THREAD-KEPT-${crypto.randomBytes(8).toString('hex')}`;
  const put = async (threadId, text) => {
    const checkpoint = {
      v: 4, id: uuid6(-1), ts: new Date().toISOString(),
      channel_values: { messages: [text] }, channel_versions: { messages: 1 }, versions_seen: {},
    };
    const cfg = await saver.put({ configurable: { thread_id: threadId, checkpoint_ns: '' } },
      checkpoint, { source: 'input', step: -1, parents: {}, note: text }, { messages: 1 });
    await saver.putWrites(cfg, [['messages', `pending ${text}`]], 'task-1');
    return cfg;
  };
  await put(`thread-${marker}`, marker);
  await put('other-thread', keep);
  assert.ok(filesHolding(dir, marker).length > 0, 'the thread is on disk before');

  await saver.deleteThread(`thread-${marker}`);
  saver.db.checkpoint();
  assert.deepEqual(filesHolding(dir, marker), [], 'no file holds the deleted thread');
  assert.ok(filesHolding(dir, keep).length > 0, 'the other thread is still stored');
  const other = await saver.getTuple({ configurable: { thread_id: 'other-thread' } });
  assert.deepEqual(other.checkpoint.channel_values.messages, [keep]);
  assert.equal(await saver.getTuple({ configurable: { thread_id: `thread-${marker}` } }), undefined);
});

const WRITER = `
const { workerData, parentPort } = require('node:worker_threads');
const inmem = require(workerData.pkg);
const db = inmem.open(workerData.dir);
const stop = new Int32Array(workerData.stop);
let i = 0;
// Every commit writes 'last' (so its version is the commit's) and a key of its own.
for (; Atomics.load(stop, 0) === 0; i++) {
  db.transactSync((tx) => { tx.put('last', String(i)); tx.put('k' + i, 'v' + i); });
  if (i === 300) parentPort.postMessage('writing');
}
db.close();
parentPort.postMessage({ done: i });
`;

test('a backup taken while a worker thread writes opens to exactly the version it returned', async (t) => {
  const dir = tmpdir(t);
  const bdir = path.join(tmpdir(t), 'backup'); // does not exist yet: created by the backup
  const db = inmem.open(dir);
  t.after(() => db.close());
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(WRITER, { eval: true,
    workerData: { pkg: path.join(__dirname, '..'), dir, stop } });
  const done = new Promise((resolve, reject) => {
    w.on('message', (m) => { if (m.done !== undefined) resolve(m.done); });
    w.on('error', reject);
  });
  await new Promise((resolve) => w.once('message', resolve)); // the worker is writing
  const v = await db.backupAsync(bdir);
  Atomics.store(new Int32Array(stop), 0, 1);
  const written = await done;

  const b = inmem.open(bdir);
  t.after(() => b.close());
  assert.equal(b.stats().version, v);
  assert.equal(b.recovery().checkpointVersion, v);
  assert.equal(b.recovery().checkpointFile, imageName(v));
  const last = b.getEntry('last');
  assert.equal(last.version, v, 'the commit at the returned version is in the backup');
  const n = Number(last.value.toString());
  assert.ok(n >= 300 && n < written);
  // Exactly the state at v: every key of the commits up to it, with the versions the live
  // database gave them, and nothing after.
  const keys = b.list({ prefix: 'k', limit: 1000000 });
  assert.equal(keys.length, n + 1);
  for (const e of keys) {
    assert.deepEqual(db.getEntry(e.key), { value: e.value, version: e.version });
  }
  assert.equal(b.get('k' + (n + 1)), undefined);
  assert.ok(db.get('k' + (n + 1)) !== undefined || written === n + 1);
});

test('backup: any durability, from a read-only database too; only into an empty directory', (t) => {
  const mem = inmem.open(null, { durability: 'none' });
  t.after(() => mem.close());
  mem.put('k', 'in memory only');
  const bdir = path.join(tmpdir(t), 'b');
  const v = mem.backup(bdir);
  assert.equal(v, mem.stats().version);
  const copy = inmem.open(bdir);
  assert.deepEqual(copy.getEntry('k'), { value: Buffer.from('in memory only'), version: v });
  copy.close();

  const inval = (re) => (e) => e instanceof inmem.InvalidArgumentError && re.test(e.details);
  assert.throws(() => mem.backup(bdir), inval(/not empty/));
  const file = path.join(tmpdir(t), 'f');
  fs.writeFileSync(file, 'x');
  assert.throws(() => mem.backup(file), inval(/backup directory/));
  assert.throws(() => mem.backup(''), inmem.InvalidArgumentError);
  assert.throws(() => mem.backup(42), inmem.InvalidArgumentError);

  // A read-only database (which cannot checkpoint) can still be backed up.
  const dir = tmpdir(t);
  const w = inmem.open(dir);
  w.put('a', '1');
  w.close();
  const ro = inmem.open(dir, { readOnly: true });
  t.after(() => ro.close());
  const rdir = path.join(tmpdir(t), 'r');
  return ro.backupAsync(rdir).then((rv) => {
    assert.equal(rv, 1);
    const c = inmem.open(rdir);
    assert.equal(c.get('a').toString(), '1');
    c.close();
  });
});

test('checkpoint errors: NotSupportedError without files, ReadOnlyError read-only, BusyError on close', async (t) => {
  const mem = inmem.open(null, { durability: 'none' });
  t.after(() => mem.close());
  const notsup = (e) => e instanceof inmem.NotSupportedError && e.code === 'INMEM_ENOTSUP' &&
    /durability none/.test(e.details);
  assert.throws(() => mem.checkpoint(), notsup);
  await assert.rejects(mem.checkpointAsync(), notsup);

  const dir = tmpdir(t);
  const w = inmem.open(dir);
  w.put('a', '1');
  w.close();
  const ro = inmem.open(dir, { readOnly: true });
  const readonly = (e) => e instanceof inmem.ReadOnlyError && e.code === 'INMEM_EREADONLY';
  assert.throws(() => ro.checkpoint(), readonly);
  await assert.rejects(ro.checkpointAsync(), readonly);
  ro.close();

  const db = inmem.open(dir);
  db.put('b', '2');
  const p = db.checkpointAsync();
  assert.throws(() => db.close(), inmem.BusyError, 'close waits for the checkpoint in flight');
  assert.equal(await p, db.stats().version);
  db.close();
  assert.throws(() => db.checkpoint(), inmem.MisuseError);
  assert.throws(() => db.backup(tmpdir(t)), inmem.MisuseError);
});

test('checkpointOnClose: the next open loads the image and replays nothing', (t) => {
  const dir = tmpdir(t);
  let db = inmem.open(dir, { checkpointOnClose: true });
  db.put('k', 'v');
  db.put('k', 'w');
  const v = db.stats().version;
  db.close();
  db = inmem.open(dir);
  let r = db.recovery();
  assert.equal(r.checkpointFile, imageName(v));
  assert.equal(r.txnsApplied, 0);
  assert.equal(db.get('k').toString(), 'w');
  db.put('k', 'x');
  db.close(); // the default: no checkpoint at close
  db = inmem.open(dir);
  r = db.recovery();
  assert.equal(r.checkpointVersion, v, 'still the image of the first close');
  assert.equal(r.txnsApplied, 1);
  db.close();
});

test('an image over a log that still holds its commits: recovery skips them (txnsSkipped)', (t) => {
  const dir = tmpdir(t);
  let db = inmem.open(dir);
  for (let i = 0; i < 50; i++) db.put(`k${i}`, String(i));
  const bdir = path.join(tmpdir(t), 'b');
  const v = db.backup(bdir); // an image of version 50; the log is left whole
  for (let i = 0; i < 10; i++) db.put('after', String(i));
  db.close();
  // As after a crash between installing an image and removing the segments it covers.
  fs.copyFileSync(path.join(bdir, imageName(v)), path.join(dir, imageName(v)));
  db = inmem.open(dir);
  const r = db.recovery();
  assert.equal(r.checkpointVersion, v);
  assert.equal(r.txnsSkipped, v, 'the commits the image holds are not applied again');
  assert.equal(r.txnsApplied, 10);
  assert.equal(db.get('k49').toString(), '49');
  assert.equal(db.get('after').toString(), '9');
  db.close();
});

test('checkpointLogRatio and checkpointLogMin: an automatic checkpoint once the log has grown', async (t) => {
  const dir = tmpdir(t);
  // With the defaults (4x the live data, at least 16 MiB) 2 MiB of log would never trigger one.
  const db = inmem.open(dir, { checkpointLogRatio: 1, checkpointLogMin: 65536 });
  const val = Buffer.alloc(1024, 1);
  for (let i = 0; i < 2048; i++) db.put(`k${i % 16}`, val);
  // The checkpointer thread takes it in the background: wait for it (no time is asserted).
  for (let i = 0; i < 6000 && db.stats().checkpoints === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const s = db.stats();
  db.close(); // now, not in an after hook: the directory is removed once the checkpointer stopped
  assert.ok(s.checkpoints >= 1, 'an automatic checkpoint was taken');
  assert.ok(s.checkpointVersion > 0);
  assert.ok(images(dir).length >= 1);
});

test('checkpoint options: checked, and part of what a shared open must match', (t) => {
  const dir = tmpdir(t);
  assert.throws(() => inmem.open(dir, { checkpointLogRatio: -1 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(dir, { checkpointLogRatio: 2 ** 32 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(dir, { checkpointLogMin: 'big' }), inmem.InvalidArgumentError);
  const a = inmem.open(dir, { checkpointLogRatio: 0 });
  t.after(() => a.close());
  for (const o of [{}, { checkpointLogRatio: 2 }, { checkpointLogRatio: 0, checkpointLogMin: 1 },
    { checkpointLogRatio: 0, checkpointOnClose: true }]) {
    assert.throws(() => inmem.open(dir, o), inmem.InvalidArgumentError, JSON.stringify(o));
  }
  const b = inmem.open(dir, { checkpointLogRatio: 0 });
  b.close();
});

test('a damaged newest image: fallback to an older one the log covers; repair salvages the only one', (t) => {
  const dir = tmpdir(t);
  let db = inmem.open(dir, { checkpointLogRatio: 0 });
  for (let i = 0; i < 2000; i++) db.put(`key-${i}`, `value ${i} `.repeat(8));
  const v = db.checkpoint();
  for (let i = 0; i < 30; i++) db.put('later', String(i));
  const end = db.stats().version;
  db.close();
  // A newer image that is damaged, as if its disk went bad after the rename.
  const bad = path.join(dir, imageName(end));
  fs.writeFileSync(bad, 'INMEMCKP garbage');
  db = inmem.open(dir, { checkpointLogRatio: 0 });
  let r = db.recovery();
  assert.equal(r.checkpointFallback, true);
  assert.equal(r.checkpointVersion, v);
  assert.equal(r.version, end);
  assert.equal(db.get('later').toString(), '29', 'nothing lost');
  assert.ok(fs.existsSync(`${bad}.dropped`), 'the damaged image is set aside');

  // Now the only image, with no log under it, damaged in the middle: CorruptError naming it.
  const v2 = db.checkpoint();
  const keys = db.stats().keys;
  db.close();
  const img = path.join(dir, imageName(v2));
  const buf = fs.readFileSync(img);
  buf[buf.length >> 1] ^= 0x21;
  fs.writeFileSync(img, buf);
  assert.throws(() => inmem.open(dir), (e) => e instanceof inmem.CorruptError &&
    e.details.includes(imageName(v2)));
  db = inmem.open(dir, { repair: true });
  r = db.recovery();
  assert.equal(r.repaired, true);
  assert.equal(r.repairFile, imageName(v2));
  assert.ok(r.keysDropped > 0 && r.keysDropped < keys, `${r.keysDropped} of ${keys} dropped`);
  assert.equal(db.stats().keys, keys - r.keysDropped);
  db.close();
});

test('a repair of a cut image reports its lost keys as COUNT_UNKNOWN, never 0', (t) => {
  const dir = tmpdir(t);
  let db = inmem.open(dir, { checkpointLogRatio: 0 });
  for (let i = 0; i < 2000; i++) db.put(`key-${i}`, `value ${i} `.repeat(8));
  const v = db.checkpoint();
  db.close();
  const img = path.join(dir, imageName(v));
  fs.truncateSync(img, Math.floor(fs.statSync(img).size / 3)); // its trailer, which counts keys, goes
  db = inmem.open(dir, { repair: true });
  const r = db.recovery();
  assert.equal(r.repaired, true);
  assert.equal(r.keysDropped, inmem.COUNT_UNKNOWN);
  assert.equal(inmem.COUNT_UNKNOWN, 2 ** 64);
  const keys = db.stats().keys;
  assert.ok(keys > 0 && keys < 2000, `${keys} keys kept`);
  db.close();
});

test('closing while an automatic checkpoint is being written waits for it; the directory reopens', (t) => {
  const dir = tmpdir(t);
  const val = Buffer.alloc(16384, 7);
  for (let round = 0; round < 20; round++) {
    // About 1 MB of live data and a trigger at 1x it: the checkpointer starts its image near
    // the end of each round's writes, and the close comes at once.
    const db = inmem.open(dir, { checkpointLogRatio: 1, checkpointLogMin: 65536 });
    for (let i = 0; i < 80; i++) db.put(`k${i % 64}`, val);
    db.close(); // the library refuses to close while its checkpointer holds a snapshot
  }
  const db = inmem.open(dir); // had a close been refused, the lock would still be held here
  assert.deepEqual(db.get('k1'), val);
  assert.ok(db.recovery().checkpointVersion > 0, 'automatic checkpoints were taken');
  db.close();
});
