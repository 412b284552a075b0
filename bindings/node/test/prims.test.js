'use strict';
// The agent primitives through the binding: runs, events, state cells, traces, each in both
// forms (standalone on the database, and inside a transaction, atomic with the rest).
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, inmem } = require('./helpers');

const S = (b) => b.toString();

test('runs: begin with options, get, end through the allowed transitions, list, delete', (t) => {
  const { db } = freshDb(t);
  const parent = db.runs.begin({ tenant: 'acme', app: 'support', agent: 'triage', tags: ['prod', 'gpt'] });
  const child = db.runs.begin({ parent, tenant: 'acme', tags: ['retry'] });
  const mine = inmem.newRunId();
  assert.equal(db.runs.begin({ id: mine }), mine);
  const info = db.runs.get(parent);
  assert.equal(info.id, parent);
  assert.equal(info.status, 'active');
  assert.equal(info.parent, null);
  assert.equal(info.tenant, 'acme');
  assert.equal(info.app, 'support');
  assert.equal(info.agent, 'triage');
  assert.deepEqual(info.tags, ['prod', 'gpt']);
  assert.ok(info.createdMs > 0);
  assert.equal(info.endedMs, 0);
  assert.equal(db.runs.get(child).parent, parent);

  db.runs.end(parent, 'completed');
  assert.equal(db.runs.get(parent).status, 'completed');
  assert.ok(db.runs.get(parent).endedMs >= info.createdMs);
  assert.throws(() => db.runs.end(parent, 'failed'), inmem.MisuseError);
  db.runs.end(parent, 'archived');
  assert.throws(() => db.runs.end(inmem.newRunId(), 'failed'), inmem.NotFoundError);
  assert.throws(() => db.runs.begin({ id: mine }), inmem.InvalidArgumentError);

  assert.deepEqual(db.runs.list(), [mine, child, parent]); // newest first
  assert.deepEqual(db.runs.list({ tenant: 'acme' }), [child, parent]);
  assert.deepEqual(db.runs.list({ tag: 'retry' }), [child]);
  assert.deepEqual(db.runs.list({ parent }), [child]);
  assert.deepEqual(db.runs.list({ parent: 'none' }), [mine, parent]);
  assert.deepEqual(db.runs.list({ status: 'archived' }), [parent]);
  assert.deepEqual(db.runs.list({ limit: 1 }), [mine]);
  assert.deepEqual(db.runs.list({ after: mine, limit: 1 }), [child]);

  db.put('k', 'v', { run: child });
  db.events.append(child, 's', 't', 'p');
  db.runs.delete(child);
  assert.equal(db.runs.get(child), undefined);
  assert.equal(db.get('k', { run: child }), undefined);
  assert.equal(db.events.info(child, 's').length, 0);
  assert.throws(() => db.runs.delete(child), inmem.NotFoundError);
});

test('runs: deleteAsync erases a large run off the event loop', async (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  await db.transact((tx) => {
    for (let i = 0; i < 5000; i++) tx.put(`k${i}`, 'v', { run });
  });
  await db.runs.deleteAsync(run);
  assert.equal(db.list({ run }).length, 0);
  await assert.rejects(db.runs.deleteAsync(run), inmem.NotFoundError);
});

test('events: append, batch, get, range both ways, time range, info, streams, verify', async (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  assert.equal(db.events.append(run, 'chat', 'user', 'hello'), 1);
  assert.equal(db.events.appendBatch(run, 'chat', [
    { type: 'assistant', payload: 'hi' },
    { type: 'tool', payload: Buffer.from([1, 2]) },
  ]), 2);
  db.events.append(run, 'audit', 'x', '');
  const e2 = db.events.get(run, 'chat', 2);
  assert.equal(e2.seq, 2);
  assert.equal(e2.type, 'assistant');
  assert.equal(S(e2.payload), 'hi');
  assert.equal(typeof e2.hash, 'bigint');
  assert.equal(e2.prevHash, db.events.get(run, 'chat', 1).hash);
  assert.equal(db.events.get(run, 'chat', 9), undefined);
  assert.deepEqual(db.events.range(run, 'chat').map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(db.events.range(run, 'chat', { backward: true, limit: 2 }).map((e) => e.seq), [3, 2]);
  assert.deepEqual(db.events.range(run, 'chat', { from: 2, to: 2 }).map((e) => e.seq), [2]);
  const first = db.events.get(run, 'chat', 1);
  assert.deepEqual(db.events.rangeTime(run, 'chat', { fromMs: first.timeMs }).map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(db.events.rangeTime(run, 'chat', { fromMs: 0, toMs: first.timeMs }), []);
  const info = db.events.info(run, 'chat');
  assert.equal(info.length, 3);
  assert.equal(info.headHash, db.events.get(run, 'chat', 3).hash);
  assert.deepEqual(db.events.streams(run), ['audit', 'chat']);
  assert.deepEqual(db.events.streams(run, { after: 'audit' }), ['chat']);
  assert.equal(db.events.verify(run, 'chat'), 0);
  assert.equal(await db.events.verifyAsync(run, 'chat'), 0);
  const tx = db.begin();
  assert.equal(tx.events.append(run, 'chat', 'user', 'again'), 4);
  assert.equal(tx.events.info(run, 'chat').length, 4);
  assert.equal(db.events.info(run, 'chat').length, 3, 'pending until commit');
  tx.commit();
  tx.free();
  assert.equal(db.events.info(run, 'chat').length, 4);
});

test('state cells: get, set, cas on version, cas on value, list', (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  assert.equal(db.state.get(run, 'task'), undefined);
  const v1 = db.state.cas(run, 'task', 0, 'queued');
  assert.throws(() => db.state.cas(run, 'task', 0, 'again'), inmem.ConflictError);
  const v2 = db.state.cas(run, 'task', v1, 'claimed');
  assert.deepEqual(db.state.get(run, 'task'), { value: Buffer.from('claimed'), version: v2 });
  assert.throws(() => db.state.casValue(run, 'task', 'queued', 'done'), inmem.ConflictError);
  db.state.casValue(run, 'task', 'claimed', 'done');
  db.state.casValue(run, 'fresh', null, 'new');
  assert.throws(() => db.state.casValue(run, 'fresh', null, 'newer'), inmem.ConflictError);
  const v3 = db.state.set(run, 'other', '');
  assert.ok(v3 > v2);
  db.state.set(null, 'global', 'g');
  assert.equal(S(db.state.get(null, 'global').value), 'g');
  const cells = db.state.list(run);
  assert.deepEqual(cells.map((c) => c.name), ['fresh', 'other', 'task']);
  assert.equal(S(cells[2].value), 'done');
  assert.deepEqual(db.state.list(run, { after: 'fresh', limit: 1 }).map((c) => c.name), ['other']);
  // In a transaction: pending, then atomic with a KV write.
  const tx = db.begin();
  tx.state.set(run, 'task', 'archived');
  tx.put('log', 'archived task', { run });
  assert.equal(S(tx.state.get(run, 'task').value), 'archived');
  tx.abort();
  tx.free();
  assert.equal(S(db.state.get(run, 'task').value), 'done');
  assert.equal(db.get('log', { run }), undefined);
});

test('traces: record, get, query by kind, parent, tag and time, tree', (t) => {
  const { db } = freshDb(t);
  const run = db.runs.begin();
  const root = db.traces.record(run, { kind: 'decision', name: 'plan', input: 'goal',
    output: 'steps', confidence: 0.9, startMs: 1000, durationUs: 50, tags: ['top'] });
  const c1 = db.traces.record(run, { kind: 'tool_call', name: 'search', parent: root, startMs: 1001 });
  const c2 = db.traces.record(run, { kind: 'thought', name: 'think', parent: root, startMs: 1002, tags: ['top'] });
  const g = db.traces.record(run, { kind: 'tool_call', name: 'fetch', parent: c1, startMs: 1003 });
  const s = db.traces.get(run, root);
  assert.equal(s.kind, 'decision');
  assert.equal(s.name, 'plan');
  assert.equal(S(s.input), 'goal');
  assert.equal(S(s.output), 'steps');
  assert.equal(s.confidence, 0.9);
  assert.equal(s.parent, null);
  assert.equal(s.startMs, 1000);
  assert.equal(s.durationUs, 50);
  assert.deepEqual(s.tags, ['top']);
  assert.equal(db.traces.get(run, c1).confidence, null, 'no confidence is null (NaN in C)');
  assert.equal(db.traces.get(run, inmem.newRunId()), undefined);
  assert.deepEqual(db.traces.query(run).map((x) => x.id), [root, c1, c2, g]);
  assert.deepEqual(db.traces.query(run, { kind: 'tool_call' }).map((x) => x.id), [c1, g]);
  assert.deepEqual(db.traces.query(run, { parent: root }).map((x) => x.id), [c1, c2]);
  assert.deepEqual(db.traces.query(run, { tag: 'top' }).map((x) => x.id), [root, c2]);
  assert.deepEqual(db.traces.query(run, { fromMs: 1001, toMs: 1003 }).map((x) => x.id), [c1, c2]);
  assert.deepEqual(db.traces.query(run, { after: c1, limit: 1 }).map((x) => x.id), [c2]);
  const tree = db.traces.tree(run, root);
  assert.deepEqual(tree.map((x) => x.id), [root, c1, g, c2]);
  assert.equal(db.traces.tree(run, inmem.newRunId()), undefined);
  assert.throws(() => db.traces.record(run, { kind: 'custom', name: 'x', id: root }),
    inmem.InvalidArgumentError);
  assert.throws(() => db.traces.record(run, { kind: 'custom', name: 'x',
    tags: Array.from({ length: 17 }, (_, i) => `t${i}`) }), inmem.InvalidArgumentError);
});

test('every primitive in one transaction commits or rolls back as one', async (t) => {
  const { db } = freshDb(t);
  const err = new Error('abort');
  let run;
  await assert.rejects(db.transact((tx) => {
    run = tx.runs.begin({ tags: ['x'] });
    tx.put('k', 'v', { run });
    tx.events.append(run, 's', 't', 'p');
    tx.state.set(run, 'c', 'v');
    tx.traces.record(run, { kind: 'thought', name: 'n' });
    throw err;
  }), (e) => e === err);
  assert.equal(db.runs.get(run), undefined);
  assert.equal(db.stats().version, 0);
  const r = await db.transact((tx) => {
    const id = tx.runs.begin({ tags: ['x'] });
    tx.put('k', 'v', { run: id });
    tx.events.append(id, 's', 't', 'p');
    tx.state.set(id, 'c', 'v');
    tx.traces.record(id, { kind: 'thought', name: 'n' });
    return id;
  });
  assert.equal(db.stats().version, 1, 'one commit, one version');
  assert.equal(db.events.info(r, 's').length, 1);
  assert.equal(db.traces.query(r).length, 1);
  assert.equal(S(db.state.get(r, 'c').value), 'v');
});

test('runs.listStored lists every run with data, begun or not', (t) => {
  const { db } = freshDb(t);
  const begun = db.runs.begin();
  const bare = inmem.newRunId();
  db.put('k', 'v', { run: bare });
  db.put('shared', 'v');
  const stored = db.runs.listStored();
  assert.deepEqual([...stored].sort(), [begun, bare].sort());
  assert.deepEqual(db.runs.list(), [begun], 'runs.list sees only begun runs');
  assert.deepEqual(db.runs.listStored({ limit: 1 }).length, 1);
  const first = db.runs.listStored({ limit: 1 })[0];
  assert.deepEqual(db.runs.listStored({ after: first }), stored.filter((x) => x !== first));
});

// Under a sanitizer the address space is the sanitizer's (terabytes reserved): no cap applies.
const sanitized = /lib[at]san/.test(process.env.LD_PRELOAD || '');

test('reads with a limit of 2^20 allocate for what they find, not for the limit', {
  skip: sanitized && 'a sanitizer reserves terabytes of address space: an address-space cap cannot apply',
}, () => {
  // Each read took limit x record size up front: 1.2 GB for a trace query or tree (a span is
  // 1192 bytes), 117 MB for events, 92 MB for state cells, 67 MB for stream names, 59 MB for a
  // history, over three records. The child warms every read up with a small limit, then caps
  // its own address space (prlimit) at 48 MB above what it uses and reads with limit 2^20.
  const path = require('node:path');
  const { spawnSync } = require('node:child_process');
  const script = `
    const { execFileSync } = require('node:child_process');
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const db = inmem.open(null, { durability: 'none', historyVersions: 10 });
    const run = db.runs.begin();
    for (let i = 0; i < 3; i++) {
      db.events.append(run, 's' + i, 't', 'p');
      db.events.append(run, 's0', 't', 'p' + i);
      db.state.set(run, 'c' + i, 'v');
      db.state.set(run, 'c0', 'v' + i);
      db.put('k', 'v' + i);
    }
    const root = db.traces.record(run, { kind: 'decision', name: 'root', startMs: 1 });
    for (let i = 0; i < 2; i++) db.traces.record(run, { kind: 'thought', name: 'c', parent: root, startMs: 2 + i });
    const reads = {
      'events.range': (limit) => db.events.range(run, 's0', { limit }),
      'events.range backward': (limit) => db.events.range(run, 's0', { backward: true, limit }),
      'events.rangeTime': (limit) => db.events.rangeTime(run, 's0', { limit }),
      'events.streams': (limit) => db.events.streams(run, { limit }),
      'state.list': (limit) => db.state.list(run, { limit }),
      'state.history': (limit) => db.state.history(run, 'c0', { limit }),
      'history': (limit) => db.history('k', { limit }),
      'traces.query': (limit) => db.traces.query(run, { limit }),
      'traces.tree': (limit) => db.traces.tree(run, root, { limit }),
      'runs.list': (limit) => db.runs.list({ limit }),
      'runs.listStored': (limit) => db.runs.listStored({ limit }),
    };
    const small = {};
    for (const [name, read] of Object.entries(reads)) small[name] = read(2).length;
    const vm = /VmSize:\\s*(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
    const cap = (Number(vm[1]) + 48 * 1024) * 1024;
    execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + cap]);
    const found = {};
    for (const [name, read] of Object.entries(reads)) {
      try {
        found[name] = read(2 ** 20).length;
      } catch (e) {
        found[name] = e.code || String(e);
      }
    }
    console.log(JSON.stringify({ small, found }));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { small, found } = JSON.parse(r.stdout);
  assert.deepEqual(small, { 'events.range': 2, 'events.range backward': 2, 'events.rangeTime': 2,
    'events.streams': 2, 'state.list': 2, 'state.history': 2, history: 2, 'traces.query': 2,
    'traces.tree': 2, 'runs.list': 1, 'runs.listStored': 1 });
  assert.deepEqual(found, { 'events.range': 4, 'events.range backward': 4, 'events.rangeTime': 4,
    'events.streams': 3, 'state.list': 3, 'state.history': 4, history: 3, 'traces.query': 3,
    'traces.tree': 3, 'runs.list': 1, 'runs.listStored': 1 });
});

test('a read whose result outgrows its first room is read whole, up to its limit', (t) => {
  // read_grown() asks again with twice the room while a read fills it: the result is the same
  // as one read with room for the limit, at every size around the first room (1024).
  const { db } = freshDb(t, { durability: 'none' });
  const run = db.runs.begin();
  const evs = Array.from({ length: 2100 }, (_, i) => ({ type: 't', payload: String(i) }));
  db.events.appendBatch(run, 's', evs);
  for (const limit of [1023, 1024, 1025, 2048, 2100, 5000, 2 ** 20]) {
    const got = db.events.range(run, 's', { limit });
    assert.equal(got.length, Math.min(limit, 2100), `limit ${limit}`);
    assert.equal(got[got.length - 1].seq, Math.min(limit, 2100));
    const back = db.events.range(run, 's', { backward: true, limit });
    assert.equal(back.length, Math.min(limit, 2100));
    assert.equal(back[back.length - 1].seq, 2100 - Math.min(limit, 2100) + 1);
  }
  db.transactSync((tx) => {
    for (let i = 0; i < 1500; i++) tx.state.set(run, 'c' + String(i).padStart(4, '0'), 'v');
  });
  assert.equal(db.state.list(run, { limit: 2 ** 20 }).length, 1500);
  assert.equal(db.state.list(run, { limit: 1100 }).length, 1100);
});
