// InmemSaver against MemorySaver and SqliteSaver (file-backed, WAL), in one run, on the same
// workload: a thread whose checkpoints have 10 channels of which 1 changes per step.
//
//   put       one checkpoint (10 channels, 1 changed: newVersions names it)
//   getTuple  the latest checkpoint of the thread (values of all 10 channels)
//   list      the last 10 checkpoints of a thread with 1,000
//   storage   bytes per checkpoint once 1,000 are stored: inmem's log bytes, SQLite's file
//             bytes (database + WAL), MemorySaver's serialized bytes held
//
// Each line is timed in rounds, the savers taking turns, and reports the median round's µs per
// call. Run with `make bench-node` (or `node savers.mjs [--quick] [--only NAME]` here once make
// node has built the addon). Prints a markdown table with the machine and date; ratios are
// against InmemSaver.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemorySaver, uuid6 } from '@langchain/langgraph-checkpoint';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { InmemSaver } from '../langgraph/index.mjs';

const quick = process.argv.includes('--quick');
// --only NAME: run the savers whose name starts with NAME (for profiling one of them).
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;
const CHECKPOINTS = 1000; // per thread, for list and storage
const ROUNDS = quick ? 5 : 15; // rounds per line, the savers taking turns
const CALLS = quick ? 40 : 200; // timed calls per round (list: a fifth)
const CHANNELS = 10;

function channelValue(ch, step) {
  // About 200 bytes of state per channel: a small message-like object.
  return { role: 'assistant', channel: ch, step, text: `step ${step} of ${ch}: ` + 'x'.repeat(150) };
}

// The i-th checkpoint of a thread: channel (i % 10) changed at step i.
function makeCheckpoint(i, versions, values) {
  const ch = `ch${i % CHANNELS}`;
  versions[ch] = (versions[ch] ?? 0) + 1;
  values[ch] = channelValue(ch, i);
  return {
    checkpoint: {
      v: 4,
      id: uuid6(-1),
      ts: new Date().toISOString(),
      channel_values: { ...values },
      channel_versions: { ...versions },
      versions_seen: { agent: { ...versions } },
    },
    metadata: { source: 'loop', step: i, parents: {} },
    newVersions: i < CHANNELS ? { ...versions } : { [ch]: versions[ch] },
  };
}

async function fillThread(saver, threadId, n) {
  const versions = {};
  const values = {};
  let config = { configurable: { thread_id: threadId, checkpoint_ns: '' } };
  // The first checkpoints write every channel once.
  for (let i = 0; i < CHANNELS; i++) {
    const ch = `ch${i}`;
    versions[ch] = 0;
    values[ch] = channelValue(ch, -1);
  }
  for (let i = 0; i < n; i++) {
    const { checkpoint, metadata, newVersions } = makeCheckpoint(i, versions, values);
    config = await saver.put(config, checkpoint, metadata, i === 0 ? { ...versions } : newVersions);
  }
  return { config, versions, values };
}

function dirSize(dir) {
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) n += f.startsWith('wal-') ? 0 : st.size;
  }
  return n;
}

async function timeit(fn, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - t0) / 1000 / n; // µs per call
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// A saver ready for the timed lines: a thread for put (after its first 10 checkpoints: every
// channel once), and a thread of 1,000 checkpoints for getTuple, list and the storage.
async function prepare(name, make, storageOf) {
  const s = await make();
  const st = await fillThread(s.saver, 'put-thread', CHANNELS);
  let putConfig = st.config;
  let step = CHANNELS;
  const before = await storageOf(s);
  const { config } = await fillThread(s.saver, 'big-thread', CHECKPOINTS);
  const after = await storageOf(s);
  const latest = { configurable: { thread_id: 'big-thread', checkpoint_ns: '' } };
  const check = await s.saver.getTuple(latest);
  if (check.checkpoint.id !== config.configurable.checkpoint_id ||
      Object.keys(check.checkpoint.channel_values).length !== CHANNELS) {
    throw new Error(`${name}: getTuple did not return the latest checkpoint with 10 channels`);
  }
  return {
    name, s, bytesPerCheckpoint: (after - before) / CHECKPOINTS, times: { put: [], getTuple: [], list: [] },
    put: async () => {
      const { checkpoint, metadata, newVersions } = makeCheckpoint(step++, st.versions, st.values);
      putConfig = await s.saver.put(putConfig, checkpoint, metadata, newVersions);
    },
    getTuple: () => s.saver.getTuple(latest),
    list: async () => {
      let n = 0;
      for await (const t of s.saver.list(latest, { limit: 10 })) { void t; n++; }
      if (n !== 10) throw new Error(`${name}: list returned ${n}`);
    },
  };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inmem-bench-savers-'));

function memoryBytes(saver) {
  let n = 0;
  const walk = (o) => {
    if (o instanceof Uint8Array) n += o.length;
    else if (typeof o === 'string') n += Buffer.byteLength(o);
    else if (o && typeof o === 'object') for (const v of Object.values(o)) walk(v);
  };
  walk(saver.storage);
  walk(saver.writes);
  return n;
}

const savers = [
  ['InmemSaver (batched)', async () => {
    const dir = path.join(tmp, 'inmem');
    const saver = new InmemSaver({ path: dir });
    return { saver, dir, close: () => saver.close() };
  }, async (s) => s.saver.db.stats().walBytes],
  ['MemorySaver', async () => {
    const saver = new MemorySaver();
    return { saver, close: () => {} };
  }, async (s) => memoryBytes(s.saver)],
  ['SqliteSaver (file, WAL)', async () => {
    const file = path.join(tmp, 'sqlite.db');
    const saver = SqliteSaver.fromConnString(file);
    return { saver, file, close: () => saver.db.close() };
  }, async (s) => {
    s.saver.db.pragma('wal_checkpoint(TRUNCATE)');
    return fs.statSync(s.file).size;
  }],
];

// The savers take turns, line by line and round by round, so that a change in the machine's load
// (other processes) falls on all of them alike; each line reports the median of its rounds.
const ready = [];
for (const [name, make, storageOf] of savers) {
  if (only && !name.startsWith(only)) continue;
  ready.push(await prepare(name, make, storageOf));
}
const LINES = [['put', CALLS], ['getTuple', CALLS], ['list', Math.max(10, CALLS / 5)]];
for (const [line, n] of LINES) {
  for (const r of ready) await timeit(r[line], Math.min(100, n)); // warm-up
}
for (let round = 0; round < ROUNDS; round++) {
  for (const [line, n] of LINES) {
    for (const r of ready) r.times[line].push(await timeit(r[line], n));
  }
}
const results = ready.map((r) => ({
  name: r.name, bytesPerCheckpoint: r.bytesPerCheckpoint,
  put: median(r.times.put), getTuple: median(r.times.getTuple), list: median(r.times.list),
}));
for (const r of ready) await r.s.close();
fs.rmSync(tmp, { recursive: true, force: true });
void dirSize;

const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
const inm = results[0];
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
console.log(`## LangGraph checkpointers: InmemSaver, MemorySaver, SqliteSaver`);
console.log('');
console.log(`${new Date().toISOString().slice(0, 10)}, ${cpu} (${os.cpus().length} cores), ` +
  `Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)}; each line the median ` +
  `of ${ROUNDS} rounds of ${CALLS} calls (list: ${Math.max(10, CALLS / 5)}), the savers ` +
  `taking turns${quick ? ' (--quick)' : ''}. ` +
  `10 channels of ~200 bytes, 1 changed per checkpoint. µs per call (lower is better); ` +
  `the ratio is the saver's time over InmemSaver's.`);
console.log('');
console.log('| saver | put µs | ratio | getTuple µs | ratio | list 10 of 1,000 µs | ratio | bytes per checkpoint |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results) {
  console.log(`| ${r.name} | ${fmt(r.put)} | ${(r.put / inm.put).toFixed(2)} | ${fmt(r.getTuple)} | ` +
    `${(r.getTuple / inm.getTuple).toFixed(2)} | ${fmt(r.list)} | ${(r.list / inm.list).toFixed(2)} | ` +
    `${Math.round(r.bytesPerCheckpoint)} |`);
}
