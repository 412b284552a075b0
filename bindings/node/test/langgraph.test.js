'use strict';
// InmemSaver beyond LangGraph's validation suite (langgraph/test/): what its one-call storage
// (src/langgraph.c) must keep exact. Values load as MemorySaver loads them with the same
// serializer (through JSON.parse or the serializer, and through the JSON array split in C);
// another serializer is called for every part; a strict database puts on the thread pool;
// checkpoints stored in the earlier record format are still read; list pages through long
// histories.
const test = require('node:test');
const assert = require('node:assert/strict');
const { tmpdir, inmem } = require('./helpers');

const lg = () => import('../langgraph/index.mjs');
const cp = () => import('@langchain/langgraph-checkpoint');

// Values whose JSON would trip a naive splitter or a naive fast path.
async function trickyValues() {
  const { AIMessage, HumanMessage } = await import('@langchain/core/messages');
  const proto = JSON.parse('{"__proto__": {"polluted": true}, "k": 1}');
  return {
    brackets: 'a "quoted" string with ],[ and {}, and \\ backslashes',
    unicode: 'é ü 中文 😀',
    control: 'tab\there\nnewline \u0001',
    numbers: [0, -1.5, 1e21, 2 ** 53, -0.000001],
    nested: { a: [[], {}, [{ b: [null, true, false] }]], s: '"lc"' },
    lcLike: { lc: 3, type: 'not a record' },
    undef: undefined,
    nul: null,
    map: new Map([['x', 1], ['y', [2]]]),
    set: new Set(['a', 'b']),
    bytes: new Uint8Array([1, 2, 255]),
    messages: [new HumanMessage({ content: 'hi', id: 'h1' }), new AIMessage({ content: 'hello', id: 'a1' })],
    proto,
    escapedKey: JSON.parse('{"\\u006cc": 1, "type": "constructor", "id": ["x"]}'),
  };
}

function checkpointOf(uuid6, values, step) {
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, step + 1]));
  return {
    v: 4, id: uuid6(-1), ts: new Date().toISOString(),
    channel_values: values, channel_versions: versions, versions_seen: { node: versions },
  };
}

test('InmemSaver loads every value exactly as MemorySaver does with the same serializer', async (t) => {
  const { InmemSaver } = await lg();
  const { MemorySaver, uuid6 } = await cp();
  const dir = tmpdir(t);
  const inm = new InmemSaver({ path: dir });
  t.after(() => inm.close());
  const mem = new MemorySaver();
  const values = await trickyValues();
  const metadata = { source: 'loop', step: 1, parents: {}, note: 'with "quotes" ],[', obj: { a: [1] } };
  const cfg = { configurable: { thread_id: 'tricky', checkpoint_ns: '' } };
  const c = checkpointOf(uuid6, values, 0);
  const versions = { ...c.channel_versions };
  const got = {};
  for (const [name, saver] of [['inmem', inm], ['memory', mem]]) {
    const putCfg = await saver.put(cfg, c, metadata, versions);
    await saver.putWrites(putCfg, Object.entries(values).slice(0, 8), 'task-1', 'path');
    got[name] = {
      tuple: await saver.getTuple(cfg),
      byId: await saver.getTuple(putCfg),
      listed: [],
    };
    for await (const x of saver.list(cfg)) got[name].listed.push(x);
  }
  const a = got.inmem.tuple;
  const b = got.memory.tuple;
  for (const k of Object.keys(values)) {
    if (k === 'proto') continue; // its prototype is an object of each load's own: below
    assert.deepStrictEqual(a.checkpoint.channel_values[k], b.checkpoint.channel_values[k], k);
  }
  const [pa, pb] = [a.checkpoint.channel_values.proto, b.checkpoint.channel_values.proto];
  assert.deepStrictEqual({ ...pa }, { ...pb });
  assert.deepStrictEqual(Object.getPrototypeOf(pa), Object.getPrototypeOf(pb),
    'a "__proto__" key revives as the serializer revives it');
  assert.equal(Object.getPrototypeOf(pa).polluted, true);
  assert.ok(a.checkpoint.channel_values.messages[1] instanceof (await import('@langchain/core/messages')).AIMessage);
  assert.ok(a.checkpoint.channel_values.map instanceof Map);
  assert.deepStrictEqual(a.metadata, b.metadata);
  assert.deepStrictEqual(a.pendingWrites, b.pendingWrites);
  // Each load makes its own prototype for "proto": compare the rest.
  const rest = ({ proto, ...others }) => others;
  assert.deepStrictEqual(rest(got.inmem.byId.checkpoint.channel_values),
    rest(a.checkpoint.channel_values));
  assert.equal(got.inmem.listed.length, 1);
  assert.deepStrictEqual(rest(got.inmem.listed[0].checkpoint.channel_values),
    rest(a.checkpoint.channel_values));
  assert.deepStrictEqual(got.inmem.listed[0].pendingWrites, b.pendingWrites);
});

test('each value alone (its tuple loaded by JSON.parse or by the serializer) as MemorySaver loads it', async (t) => {
  const { InmemSaver } = await lg();
  const { MemorySaver, uuid6 } = await cp();
  const inm = new InmemSaver({ path: tmpdir(t) });
  t.after(() => inm.close());
  const mem = new MemorySaver();
  for (const [name, value] of Object.entries(await trickyValues())) {
    const cfg = { configurable: { thread_id: `t-${name}`, checkpoint_ns: '' } };
    const c = checkpointOf(uuid6, { [name]: value }, 0);
    const got = [];
    for (const saver of [inm, mem]) {
      await saver.put(cfg, c, { source: 'input', step: -1 }, c.channel_versions);
      got.push((await saver.getTuple(cfg)).checkpoint.channel_values[name]);
    }
    if (name === 'proto') {
      // Each load makes a prototype of its own: the same shape, and the same own keys.
      assert.deepStrictEqual(Object.getPrototypeOf(got[0]), Object.getPrototypeOf(got[1]));
      assert.deepStrictEqual(Object.keys(got[0]), Object.keys(got[1]));
    } else {
      assert.deepStrictEqual(got[0], got[1], name);
    }
  }
});

test('plain values load through JSON.parse to what the serializer gives', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const saver = new InmemSaver({ path: tmpdir(t) });
  t.after(() => saver.close());
  const values = { a: { text: 'plain', n: [1, 2, { x: null }] }, b: 'just a string', c: 42 };
  const c = checkpointOf(uuid6, values, 0);
  const cfg = await saver.put({ configurable: { thread_id: 'p' } }, c, { source: 'input', step: -1 },
    c.channel_versions);
  const loads = [];
  const orig = saver.serde.loadsTyped.bind(saver.serde);
  saver.serde.loadsTyped = (type, data) => { loads.push(type); return orig(type, data); };
  const tuple = await saver.getTuple(cfg);
  assert.deepStrictEqual(tuple.checkpoint.channel_values, values);
  assert.deepStrictEqual(loads, [], 'no serializer call was needed');
  await saver.putWrites(cfg, [['a', new Set([1])]], 'task');
  const again = await saver.getTuple(cfg);
  assert.deepStrictEqual(again.pendingWrites, [['task', 'a', new Set([1])]]);
  assert.deepStrictEqual(loads, ['json'], 'one serializer call for the whole tuple');
});

test('another serializer is called for every part, and its types are kept', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  // Stores JSON reversed, under a type of its own: nothing of it can be read without it.
  const calls = { dumps: 0, loads: 0 };
  const serde = {
    async dumpsTyped(v) {
      calls.dumps++;
      return ['rev', Buffer.from(JSON.stringify(v === undefined ? null : v)).reverse()];
    },
    async loadsTyped(type, data) {
      calls.loads++;
      assert.equal(type, 'rev');
      return JSON.parse(Buffer.from(data).reverse().toString());
    },
  };
  const saver = new InmemSaver({ path: tmpdir(t), serde });
  t.after(() => saver.close());
  const values = { a: { x: '],[' }, b: [1, 2] };
  const c = checkpointOf(uuid6, values, 0);
  const cfg = await saver.put({ configurable: { thread_id: 's' } }, c, { source: 'input', step: -1 },
    c.channel_versions);
  assert.equal(calls.dumps, 4, 'checkpoint, metadata and the two values');
  await saver.putWrites(cfg, [['a', 'w1'], ['b', 'w2']], 'task');
  calls.loads = 0;
  const tuple = await saver.getTuple(cfg);
  assert.deepStrictEqual(tuple.checkpoint.channel_values, values);
  assert.deepStrictEqual(tuple.metadata, { source: 'input', step: -1 });
  assert.deepStrictEqual(tuple.pendingWrites, [['task', 'a', 'w1'], ['task', 'b', 'w2']]);
  assert.equal(calls.loads, 6, 'checkpoint, metadata, two values, two writes');
  const listed = [];
  for await (const x of saver.list({ configurable: { thread_id: 's' } })) listed.push(x);
  assert.deepStrictEqual(listed.map((x) => x.checkpoint.channel_values), [values]);
});

test('a strict database: every put is synced (on the thread pool) and there after a reopen', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const dir = tmpdir(t);
  let saver = new InmemSaver({ path: dir, durability: 'strict' });
  let cfg = { configurable: { thread_id: 'strict', checkpoint_ns: '' } };
  const ids = [];
  for (let i = 0; i < 5; i++) {
    const c = checkpointOf(uuid6, { n: i }, i);
    cfg = await saver.put(cfg, c, { source: 'loop', step: i }, c.channel_versions);
    ids.push(c.id);
  }
  const s = saver.db.stats();
  assert.ok(s.walSyncs >= 5 && s.walSyncedCommits >= 5, 'every strict commit was synced');
  saver.close();
  saver = new InmemSaver({ path: dir });
  t.after(() => saver.close());
  const latest = await saver.getTuple({ configurable: { thread_id: 'strict' } });
  assert.equal(latest.checkpoint.id, ids[4]);
  assert.deepStrictEqual(latest.checkpoint.channel_values, { n: 4 });
  assert.equal(latest.parentConfig.configurable.checkpoint_id, ids[3]);
  const listed = [];
  for await (const x of saver.list({ configurable: { thread_id: 'strict' } })) listed.push(x.checkpoint.id);
  assert.deepStrictEqual(listed, [...ids].reverse());
});

// The first InmemSaver's records (format 1): frames of a u32 length and the bytes.
function frame(parts) {
  return Buffer.concat(parts.flatMap((p) => {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(p);
    const n = Buffer.alloc(4);
    n.writeUInt32LE(b.length);
    return [n, b];
  }));
}
const inv = (id) => Buffer.concat([Buffer.from([...Buffer.from(id)].map((x) => 255 - x)), Buffer.from([0xff])]);

test('checkpoints stored in the earlier record format (1) are still read', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const saver = new InmemSaver({ path: tmpdir(t) });
  t.after(() => saver.close());
  const run = saver.runIdOf('old');
  const id1 = uuid6(-1);
  const id2 = uuid6(-1);
  const z = Buffer.from([0]);
  saver.db.transactSync((tx) => {
    tx.runs.begin({ id: run, app: 'langgraph' });
    tx.put('t', 'old', { run });
    tx.put('n', '', { run });
    const ck = (id, parent, versions) => tx.put(Buffer.concat([Buffer.from('c'), z, inv(id)]),
      frame([Buffer.from([1]), 'json', JSON.stringify({ v: 4, id, ts: '', channel_versions: versions,
        versions_seen: {} }), 'json', JSON.stringify({ source: 'loop', step: 1 }),
      Buffer.from([parent ? 1 : 0]), parent ?? '']), { run });
    ck(id1, undefined, { a: 1 });
    ck(id2, id1, { a: 2, b: 1 });
    for (const [ch, v, val] of [['a', 1, 'a1'], ['a', 2, 'a2'], ['b', 1, { b: true }]]) {
      tx.put(Buffer.concat([Buffer.from(`b`), z, Buffer.from(ch), z, Buffer.from(String(v))]),
        frame([Buffer.from([1]), 'json', JSON.stringify(val)]), { run });
    }
  });
  const latest = await saver.getTuple({ configurable: { thread_id: 'old' } });
  assert.equal(latest.checkpoint.id, id2);
  assert.deepStrictEqual(latest.checkpoint.channel_values, { a: 'a2', b: { b: true } });
  assert.equal(latest.parentConfig.configurable.checkpoint_id, id1);
  const first = await saver.getTuple({ configurable: { thread_id: 'old', checkpoint_id: id1 } });
  assert.deepStrictEqual(first.checkpoint.channel_values, { a: 'a1' });
  const listed = [];
  for await (const x of saver.list({ configurable: { thread_id: 'old' } })) {
    listed.push([x.checkpoint.id, x.checkpoint.channel_values]);
  }
  assert.deepStrictEqual(listed, [[id2, { a: 'a2', b: { b: true } }], [id1, { a: 'a1' }]]);
  // A new checkpoint on the same thread is stored in the new format beside them.
  const c = checkpointOf(uuid6, { a: 'a3' }, 2);
  await saver.put(latest.config, c, { source: 'loop', step: 2 }, { a: 3 });
  const newest = await saver.getTuple({ configurable: { thread_id: 'old' } });
  assert.deepStrictEqual(newest.checkpoint.channel_values, { a: 'a3' });
});

test('a setter on Object.prototype that closes the database while list() reports damage is not run', async (t) => {
  // The error a damaged record gives is made while the read still holds its scan: user code
  // run then (an inherited setter of an error's field) closed the database, freeing the scan
  // under the read, which then freed it again (SIGSEGV).
  const { InmemSaver } = await lg();
  const saver = new InmemSaver({ durability: 'none' });
  const run = saver.runIdOf('bad');
  const z = Buffer.from([0]);
  saver.db.put('n', '', { run }); // its namespace ''
  for (const id of ['1', '2', '3']) {
    saver.db.put(Buffer.concat([Buffer.from('c'), z, inv(id)]), 'not a record', { run });
  }
  let ran = 0;
  Object.defineProperty(Object.prototype, 'code', {
    configurable: true,
    set(v) {
      ran++;
      Object.defineProperty(this, 'code', { value: v, writable: true, enumerable: true, configurable: true });
      saver.close();
    },
  });
  try {
    await assert.rejects(async () => {
      for await (const x of saver.list({ configurable: { thread_id: 'bad' } })) assert.fail(x);
    }, (e) => e instanceof inmem.CorruptError && e.code === 'INMEM_ECORRUPT');
  } finally {
    delete Object.prototype.code;
  }
  assert.equal(ran, 0);
  saver.close();
});

test('lgPutAsync: user code run as its promise is made cannot close the database under it', async (t) => {
  // Making a promise runs user code (promise hooks): a close made there, before the put was
  // counted as pending, left it to run on a closed handle (InvalidArgumentError from the
  // library). It is now refused with BusyError, as during any asynchronous call.
  const b = require('../lib/binding');
  const { promiseHooks } = require('node:v8');
  const db = inmem.open(null, { durability: 'none' });
  const run = inmem.newRunId();
  let closeError;
  let armed = true;
  const stop = promiseHooks.onInit(() => {
    if (!armed) return;
    armed = false;
    try { db.close(); } catch (e) { closeError = e; }
  });
  let p;
  try {
    p = b.lgPutAsync(db._h, run, 't', 'langgraph', null, '', 'id1', null, 0, '[{},{}]', '', '', '');
  } finally {
    stop();
  }
  await p;
  assert.ok(closeError instanceof inmem.BusyError);
  assert.equal(db.get('t', { run }).toString(), 't');
  db.close();
});

test('lgPut refuses a huge or sparse payload array before allocating by its length', (t) => {
  // The parts of a payload given as an array ([type, bytes, ...]) were sized by its length
  // before one was read: 64 GB asked for by a sparse array of 2^32 - 2 (OutOfMemoryError), 32
  // MB for one of 2^21. Like getMany and putMany, at most 2^20 elements, refused at once, and
  // a hole is named where it is.
  const b = require('../lib/binding');
  const db = inmem.open(null, { durability: 'none' });
  t.after(() => db.close());
  const run = inmem.newRunId();
  const put = (payload) => b.lgPut(db._h, run, 't', 'langgraph', null, '', 'id1', null, 0, payload,
    '', '', '');
  const sparse = (n) => { const a = []; a.length = n; return a; };
  const tooMany = (e) => e instanceof inmem.InvalidArgumentError &&
    /^invalid argument: payload has \d+ elements: at most 1048576 in one call$/.test(e.message);
  for (const n of [2 ** 32 - 2, 2 ** 31, 2 ** 24 + 2, 2 ** 21 + 2, 2 ** 20 + 1]) {
    assert.throws(() => put(sparse(n)), tooMany, `a sparse array of ${n}`);
  }
  assert.throws(() => put(new Array(2 ** 20 + 1).fill('json')), tooMany);
  const hole = (i) => (e) => e instanceof inmem.InvalidArgumentError &&
    e.message.includes(`payload[${i}] must be a string or bytes`);
  assert.throws(() => put(sparse(2 ** 20)), hole(0));
  assert.throws(() => put(['json', '{}', 'json', 7]), hole(3));
  assert.throws(() => put(7), inmem.InvalidArgumentError);
  // Nothing was written; a payload of the right parts is stored.
  assert.equal(db.get('t', { run }), undefined);
  put(['json', '{}', 'json', '{}']);
  assert.equal(db.get('t', { run }).toString(), 't');
});

test('list pages through a long history: every checkpoint once, in order, with before and filters', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const saver = new InmemSaver({ path: tmpdir(t) });
  t.after(() => saver.close());
  let cfg = { configurable: { thread_id: 'long', checkpoint_ns: '' } };
  const ids = [];
  for (let i = 0; i < 100; i++) {
    const c = checkpointOf(uuid6, { [`ch${i % 3}`]: i }, i);
    c.channel_versions = { [`ch${i % 3}`]: i + 1 };
    cfg = await saver.put(cfg, c, { source: i % 2 ? 'loop' : 'input', step: i, tag: { even: i % 2 === 0 } },
      c.channel_versions);
    ids.push(c.id);
  }
  const all = [];
  for await (const x of saver.list({ configurable: { thread_id: 'long' } })) all.push(x.checkpoint.id);
  assert.deepStrictEqual(all, [...ids].reverse(), 'pages of 16, 32, 64... join without a gap');
  const before = [];
  for await (const x of saver.list({ configurable: { thread_id: 'long' } },
    { before: { configurable: { checkpoint_id: ids[50] } }, limit: 20 })) before.push(x.checkpoint.id);
  assert.deepStrictEqual(before, ids.slice(30, 50).reverse());
  const step7 = [];
  for await (const x of saver.list({ configurable: { thread_id: 'long' } }, { filter: { step: 7 } })) {
    step7.push(x.metadata.step);
  }
  assert.deepStrictEqual(step7, [7]);
  const evenInputs = [];
  for await (const x of saver.list({ configurable: { thread_id: 'long' } },
    { filter: { source: 'input', tag: { even: true } }, limit: 30 })) evenInputs.push(x.metadata.step);
  assert.deepStrictEqual(evenInputs, Array.from({ length: 30 }, (_, i) => 98 - 2 * i));
  const one = [];
  for await (const x of saver.list({ configurable: { thread_id: 'long', checkpoint_id: ids[3] } })) {
    one.push(x.checkpoint.id);
  }
  assert.deepStrictEqual(one, [ids[3]]);
});

test('each channel value is stored once per version: a put stores only the channels that changed', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const saver = new InmemSaver({ path: tmpdir(t) });
  t.after(() => saver.close());
  const values = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`ch${i}`, `v0 of ch${i}`]));
  const versions = Object.fromEntries(Object.keys(values).map((k) => [k, 1]));
  let cfg = { configurable: { thread_id: 'inc', checkpoint_ns: '' } };
  const c0 = checkpointOf(uuid6, values, 0);
  c0.channel_versions = { ...versions };
  cfg = await saver.put(cfg, c0, { source: 'input', step: -1 }, { ...versions });
  for (let step = 1; step <= 20; step++) {
    const ch = `ch${step % 10}`;
    values[ch] = `v${step} of ${ch}`;
    versions[ch]++;
    const c = checkpointOf(uuid6, { ...values }, step);
    c.channel_versions = { ...versions };
    cfg = await saver.put(cfg, c, { source: 'loop', step }, { [ch]: versions[ch] });
  }
  const run = saver.runIdOf('inc');
  const blobs = saver.db.list({ run, prefix: 'b', limit: 1000 });
  assert.equal(blobs.length, 10 + 20, 'the first 10 values, then one a put');
  const latest = await saver.getTuple({ configurable: { thread_id: 'inc' } });
  assert.deepStrictEqual(latest.checkpoint.channel_values, values);
});

test('a large checkpoint: 300 channels with long names, large metadata, all values stored and read', async (t) => {
  const { InmemSaver } = await lg();
  const { uuid6 } = await cp();
  const saver = new InmemSaver({ path: tmpdir(t) });
  t.after(() => saver.close());
  // Large enough that the buffers the addon builds a put in grow many times over.
  const values = {};
  for (let i = 0; i < 300; i++) values[`channel-${String(i).padStart(3, '0')}-${'n'.repeat(60)}`] = { i, s: 'v'.repeat(i) };
  const metadata = { source: 'loop', step: 3, parents: {} };
  for (let i = 0; i < 50; i++) metadata[`key${i}-${'k'.repeat(40)}`] = `value ${i} ${'m'.repeat(100)}`;
  const c = checkpointOf(uuid6, values, 0);
  const cfg = await saver.put({ configurable: { thread_id: 'big', checkpoint_ns: 'ns-'.repeat(10) } }, c,
    metadata, c.channel_versions);
  const tuple = await saver.getTuple(cfg);
  assert.deepStrictEqual(tuple.checkpoint.channel_values, values);
  assert.deepStrictEqual(tuple.metadata, metadata);
  const filtered = [];
  for await (const x of saver.list({ configurable: { thread_id: 'big' } },
    { filter: { [`key7-${'k'.repeat(40)}`]: `value 7 ${'m'.repeat(100)}` } })) filtered.push(x.checkpoint.id);
  assert.deepStrictEqual(filtered, [c.id], 'found through the index of a long metadata value');
});

test('a JsonPlusSerializer with a method replaced is not taken for the stock one', async (t) => {
  const { InmemSaver } = await lg();
  const { JsonPlusSerializer, uuid6 } = await cp();
  const serde = new JsonPlusSerializer();
  const calls = [];
  serde.loadsTyped = async (type, data) => {
    calls.push(type);
    return JsonPlusSerializer.prototype.loadsTyped.call(serde, type, data);
  };
  const saver = new InmemSaver({ path: tmpdir(t), serde });
  t.after(() => saver.close());
  const c = checkpointOf(uuid6, { a: 'plain' }, 0);
  const cfg = await saver.put({ configurable: { thread_id: 'r' } }, c, { source: 'input', step: -1 },
    c.channel_versions);
  assert.deepStrictEqual((await saver.getTuple(cfg)).checkpoint.channel_values, { a: 'plain' });
  assert.deepStrictEqual(calls, ['json', 'json', 'json'], 'its loadsTyped, once a part');
});
