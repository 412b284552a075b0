// InmemSaver — a LangGraph.js checkpointer (BaseCheckpointSaver) stored in inmem.
//
// Each LangGraph thread is an inmem run (app 'langgraph', tenant = the saver's namespace), whose
// id is derived from the thread id, so that deleting the thread is deleting the run: one
// transaction that erases every key of it. Inside the run, KV keys (binary, ordered by memcmp):
//
//   t                                     the thread id (the run exists <=> this key does)
//   n <ns>                                a checkpoint namespace used in the thread
//   c <ns> 00 <~cid> ff                   a checkpoint: the checkpoint without its channel values,
//                                         its metadata, its parent's id, the list of its channels
//                                         and their versions
//   b <ns> 00 <channel> 00 <version>      a channel's value at a version: stored once, when put()
//                                         is told (newVersions) that the channel changed
//   m <ns> 00 <key> 00 <json> 00 <~cid> ff   index of a checkpoint's primitive metadata values
//   w <ns> 00 <cid> 00 <task id> 00 <idx> a pending write
//
// <~cid> is the checkpoint id with every byte inverted (255 - b) and a 0xff terminator, so an
// ascending scan returns checkpoints newest first (ids are time-ordered uuid6 strings) and
// "before X" is a scan that starts just after X's key. The records are described in
// src/langgraph.c, which writes and reads the checkpoints: put() is one serializer call (one JSON
// array of the checkpoint, its metadata and the changed values, split in C) and one call into the
// addon (one transaction); getTuple() is one call into the addon (the checkpoint, its channels'
// values and its writes from one snapshot, as one JSON text) and one deserialization; list()
// reads pages of tuples the same way, from ordered scans of the checkpoint keys (or of a metadata
// index when the filter allows), reading only the checkpoints it returns. Every put and putWrites
// is one transaction.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  BaseCheckpointSaver,
  JsonPlusSerializer,
  WRITES_IDX_MAP,
  TASKS,
  compareWritesSortKeys,
  writesSortKey,
  maxChannelVersion,
  getCheckpointId,
} from '@langchain/langgraph-checkpoint';

const require = createRequire(import.meta.url);
const inmem = require('../index.js');
const b = require('../lib/binding.js');

const APP = 'langgraph';
const FORMAT = 1; // version of the write records below (checkpoints: src/langgraph.c)

// ---- encodings ---------------------------------------------------------------------------------

const ZERO = Buffer.from([0]);

function utf8(s) {
  return Buffer.from(s, 'utf8');
}

function checkName(s, what) {
  if (typeof s !== 'string') throw new Error(`InmemSaver: ${what} must be a string`);
  if (s.includes('\0')) throw new Error(`InmemSaver: ${what} must not contain a NUL character`);
  return s;
}

const K_THREAD = Buffer.from('t');

function writesPrefix(ns, id) {
  return Buffer.concat([Buffer.from('w'), utf8(ns), ZERO, utf8(id), ZERO]);
}
function writeKey(ns, id, taskId, idx) {
  const i = Buffer.allocUnsafe(4);
  i.writeUInt32BE((idx + 0x80000000) >>> 0); // negative (special) indexes sort first
  return Buffer.concat([writesPrefix(ns, id), utf8(taskId), ZERO, i]);
}

// Metadata values that are indexed: primitives with a short JSON form, under keys without NUL.
function indexable(key, value) {
  if (key.includes('\0')) return undefined;
  const t = typeof value;
  if (value !== null && t !== 'string' && t !== 'number' && t !== 'boolean') return undefined;
  const j = JSON.stringify(value);
  return j !== undefined && j.length <= 256 ? j : undefined;
}

// Frames: each part a u32 length and its bytes.
function frame(parts) {
  let n = 0;
  for (const p of parts) n += 4 + p.length;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, o);
    o += 4;
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const FORMAT_BUF = Buffer.from([FORMAT]);

// write record: format, task id, channel, value type, value, task path
function encodeWrite(taskId, channel, type, data, taskPath) {
  return frame([FORMAT_BUF, utf8(taskId), utf8(channel), utf8(type), data, utf8(taskPath)]);
}

function equalValue(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

// Writes as lgRead gives them (flat [taskId, channel, taskPath, idx, ...] and their values), in
// writesSortKey order.
function orderedWrites(meta, values) {
  const out = [];
  for (let i = 0, j = 0; i < meta.length; i += 4, j++) {
    out.push({ taskId: meta[i], channel: meta[i + 1], taskPath: meta[i + 2], idx: meta[i + 3],
      value: values[j] });
  }
  if (out.length > 1) {
    out.sort((x, y) => compareWritesSortKeys(
      writesSortKey(x.taskPath, x.taskId, x.idx), writesSortKey(y.taskPath, y.taskId, y.idx)));
  }
  return out;
}

// LangGraph's JsonPlusSerializer itself: its class, none of its methods replaced.
function isStockSerde(serde) {
  const proto = JsonPlusSerializer.prototype;
  return serde?.constructor === JsonPlusSerializer &&
    ['dumpsTyped', 'loadsTyped', '_dumps', '_loads'].every((m) => serde[m] === proto[m]);
}

// lgRead's tuples: [id, parentId, text, plain, parts, channels (NUL-terminated names), writes,
// needsChannels, sends]
const T_ID = 0;
const T_PARENT = 1;
const T_TEXT = 2;
const T_PLAIN = 3;
const T_PARTS = 4;
const T_CHANNELS = 5;
const T_WRITES = 6;
const T_NEEDS = 7;
const T_SENDS = 8;
// lgPut's and lgRead's flags: bit 0, the checkpoint predates format 4 (its pending sends are its
// parent's TASKS writes); bit 1 (lgRead), parts only: no joined JSON text (another serializer).
const F_SENDS = 1;
const F_PARTS = 2;

// ---- the saver ---------------------------------------------------------------------------------

/**
 * A LangGraph checkpointer in inmem: durable (the database's durability mode), transactional,
 * incremental (a channel's value is stored once per version).
 *
 *   new InmemSaver({ path: './graph-state' })            opens (and owns) a database
 *   new InmemSaver({ db })                               uses an open inmem Database
 *
 * Options: path, durability and the other open() options, or db; namespace (default ''): a
 * tenant name, so several savers can share a database; serde: LangGraph's serializer.
 */
export class InmemSaver extends BaseCheckpointSaver {
  constructor(options = {}, serde) {
    super(serde ?? options.serde);
    if (options.db) {
      this.db = options.db;
      this._owned = false;
    } else {
      const { path, namespace: _ns, serde: _s, db: _d, ...openOpts } = options;
      if (path === undefined && openOpts.durability !== 'none') {
        throw new Error("InmemSaver: give a path (or { db }), or durability: 'none'");
      }
      this.db = inmem.open(path ?? null, openOpts);
      this._owned = true;
    }
    this.namespace = options.namespace ?? '';
    checkName(this.namespace, 'namespace');
    if (Buffer.byteLength(this.namespace) > 63) {
      throw new Error('InmemSaver: namespace is at most 63 bytes');
    }
    this._waits = this.db.commitMayWait; // (strict, or maxUnsyncedCommits)
    this._runIds = new Map();
    // The stock serializer: the parts of a put serialize as one JSON array (split in C), those
    // of a tuple load as one; and a text without LangChain objects ("lc" records) loads with
    // JSON.parse alone, which gives exactly what its reviver would (it revives only those).
    // Another serializer is called once per part, as LangGraph's own savers do.
    this._stock = isStockSerde(this.serde);
    this._readFlags = this._stock ? 0 : F_PARTS;
  }

  /** Closes the database if the saver opened it. */
  close() {
    if (this._owned) this.db.close();
  }

  /** The run id of a thread: derived from the namespace and the thread id. */
  runIdOf(threadId) {
    let id = this._runIds.get(threadId);
    if (id === undefined) {
      const h = createHash('sha256').update(`inmem-langgraph\0${this.namespace}\0${threadId}`).digest();
      id = inmem.formatRunId(h.subarray(0, 16));
      if (this._runIds.size >= 65536) this._runIds.clear();
      this._runIds.set(threadId, id);
    }
    return id;
  }

  // A write transaction: on the thread pool where commits may wait for an fsync, else inline
  // (the library's own retry loop).
  async _write(fn) {
    if (this._waits) return this.db.transact(fn);
    return this.db.transactSync(fn);
  }

  _ensureThread(tx, run, threadId) {
    if (tx.get(K_THREAD, { run }) !== undefined) return;
    tx.runs.begin({ id: run, app: APP, tenant: this.namespace || undefined });
    tx.put(K_THREAD, threadId, { run });
  }

  async put(config, checkpoint, metadata, newVersions) {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) {
      throw new Error('InmemSaver.put: config.configurable.thread_id is required');
    }
    const tid = checkName(String(threadId), 'thread_id');
    const ns = checkName(config.configurable?.checkpoint_ns ?? '', 'checkpoint_ns');
    const parentId = config.configurable?.checkpoint_id;
    const id = checkName(checkpoint.id, 'checkpoint.id');
    const { channel_values: values = {}, ...rest } = checkpoint;

    // The values this put stores: those of the channels newVersions names. The lists go to the
    // addon as strings of NUL-terminated items.
    let blobChannels = '';
    const stored = [];
    for (const channel in newVersions ?? {}) {
      if (!hasOwn(newVersions, channel) || !hasOwn(values, channel)) continue;
      const version = checkName(String(newVersions[channel]), 'a channel version');
      blobChannels += `${checkName(channel, 'a channel name')}\0${version}\0`;
      stored.push(values[channel]);
    }
    // Every channel of the checkpoint with its version: getTuple reads their values.
    let allChannels = '';
    const versions = rest.channel_versions ?? {};
    for (const channel in versions) {
      if (!hasOwn(versions, channel)) continue;
      const version = checkName(String(versions[channel]), 'a channel version');
      allChannels += `${checkName(channel, 'a channel name')}\0${version}\0`;
    }
    let metaIndex = '';
    for (const k in metadata ?? {}) {
      if (!hasOwn(metadata, k)) continue;
      const j = indexable(k, metadata[k]);
      if (j !== undefined) metaIndex += `${k}\0${j}\0`;
    }
    let payload;
    if (this._stock) {
      const [t, d] = await this.serde.dumpsTyped([rest, metadata, ...stored]);
      if (t === 'json') payload = d;
    }
    if (payload === undefined) {
      const typed = await Promise.all([rest, metadata, ...stored].map((v) => this.serde.dumpsTyped(v)));
      payload = typed.flat();
    }
    const args = [this.db._h, this.runIdOf(tid), tid, APP, this.namespace || null, ns, id,
      parentId ?? null, checkpoint.v < 4 ? F_SENDS : 0, payload, blobChannels, allChannels,
      metaIndex];
    if (this._waits) await b.lgPutAsync(...args);
    else b.lgPut(...args);
    return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: id } };
  }

  async putWrites(config, writes, taskId, taskPath) {
    const threadId = config.configurable?.thread_id;
    const id = config.configurable?.checkpoint_id;
    if (threadId === undefined || threadId === null) {
      throw new Error('InmemSaver.putWrites: config.configurable.thread_id is required');
    }
    if (id === undefined || id === null) {
      throw new Error('InmemSaver.putWrites: config.configurable.checkpoint_id is required');
    }
    const tid = checkName(String(threadId), 'thread_id');
    const ns = checkName(config.configurable?.checkpoint_ns ?? '', 'checkpoint_ns');
    checkName(id, 'checkpoint_id');
    checkName(taskId, 'task id');
    const recs = await Promise.all(writes.map(async ([channel, value], i) => {
      const [t, d] = await this.serde.dumpsTyped(value);
      const idx = WRITES_IDX_MAP[channel] ?? i;
      return { key: writeKey(ns, id, taskId, idx), special: idx < 0,
        val: encodeWrite(taskId, channel, t, d, taskPath ?? '') };
    }));
    const run = this.runIdOf(tid);
    await this._write((tx) => {
      this._ensureThread(tx, run, tid);
      const puts = [];
      for (const r of recs) {
        // A task's regular writes are kept as first stored; special ones (errors, interrupts)
        // are replaced.
        if (!r.special && tx.get(r.key, { run }) !== undefined) continue;
        puts.push(r.key, r.val);
      }
      tx.putMany(puts, { run });
    });
  }

  async deleteThread(threadId) {
    const run = this.runIdOf(checkName(String(threadId), 'thread_id'));
    try {
      await this.db.runs.deleteAsync(run);
    } catch (e) {
      if (!(e instanceof inmem.InmemError && e.code === 'INMEM_NOTFOUND')) throw e;
    }
  }

  // Deserialises what lgRead read of a tuple: [checkpoint, metadata, [value...], [write...],
  // [send...]].
  async _load(raw) {
    const text = raw[T_TEXT];
    if (text !== undefined) {
      return raw[T_PLAIN] ? JSON.parse(text) : this.serde.loadsTyped('json', text);
    }
    const parts = raw[T_PARTS];
    const loaded = [];
    for (let i = 0; i < parts.length; i += 2) {
      loaded.push(this.serde.loadsTyped(parts[i], parts[i + 1]));
    }
    const all = await Promise.all(loaded);
    const [nv, nw] = parts.counts;
    return [all[0], all[1], all.slice(2, 2 + nv), all.slice(2 + nv, 2 + nv + nw),
      all.slice(2 + nv + nw)];
  }

  // A tuple from what lgRead read (h: the database or the transaction it read in); undefined if
  // the checkpoint is gone.
  async _tuple(h, run, threadId, ns, raw) {
    if (raw[T_NEEDS]) {
      // A checkpoint stored by an earlier version (record format 1), without its channel list:
      // the checkpoint's channel_versions give it; read the tuple again with it.
      const [cp] = await this._load(raw);
      let list = '';
      for (const [ch, v] of Object.entries(cp.channel_versions ?? {})) list += `${ch}\0${v}\0`;
      const again = b.lgRead(h, run, ns, raw[T_ID], null, 1, null, null, list,
        (cp.v < 4 ? F_SENDS : 0) | this._readFlags);
      if (again.length === 0) return undefined;
      raw = again[0];
    }
    const [checkpoint, metadata, values, wvals, svals] = await this._load(raw);
    const names = raw[T_CHANNELS];
    const channels = names === '' ? [] : names.slice(0, -1).split('\0');
    const channelValues = {};
    for (let i = 0; i < channels.length; i++) channelValues[channels[i]] = values[i];
    checkpoint.channel_values = channelValues;
    if (raw[T_SENDS] !== undefined) {
      // Before format 4 a checkpoint's pending sends were its parent's TASKS writes.
      const sends = orderedWrites(raw[T_SENDS], svals).filter((w) => w.channel === TASKS);
      checkpoint.channel_values[TASKS] = sends.map((w) => w.value);
      const vs = Object.values(checkpoint.channel_versions ?? {});
      checkpoint.channel_versions = checkpoint.channel_versions ?? {};
      checkpoint.channel_versions[TASKS] = vs.length > 0 ? maxChannelVersion(...vs)
        : this.getNextVersion(undefined);
    }
    const id = raw[T_ID];
    const tuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: id } },
      checkpoint,
      metadata,
      pendingWrites: raw[T_WRITES].length === 0 ? []
        : orderedWrites(raw[T_WRITES], wvals).map((w) => [w.taskId, w.channel, w.value]),
    };
    if (raw[T_PARENT] !== undefined) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: raw[T_PARENT] },
      };
    }
    return tuple;
  }

  async getTuple(config) {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const tid = checkName(String(threadId), 'thread_id');
    const ns = checkName(config.configurable?.checkpoint_ns ?? '', 'checkpoint_ns');
    const id = getCheckpointId(config);
    if (id) checkName(id, 'checkpoint_id');
    const run = this.runIdOf(tid);
    const h = this.db._h;
    const found = b.lgRead(h, run, ns, id || null, null, 1, null, null, null, this._readFlags);
    if (found.length === 0) return undefined;
    return this._tuple(h, run, threadId, ns, found[0]);
  }

  // The threads of this saver (their run ids and thread ids), newest run first. The default
  // namespace ('') stores no tenant, and a filter without one lists every tenant's runs: a run
  // is this saver's only if its id is the one runIdOf() derives for its thread here (what
  // getTuple() reads).
  _threads(tx) {
    const out = [];
    let after;
    for (;;) {
      const ids = tx.runs.list({ app: APP, tenant: this.namespace || undefined, after, limit: 256 });
      for (const run of ids) {
        const t = tx.get(K_THREAD, { run });
        if (t === undefined) continue;
        const threadId = t.toString();
        if (this.runIdOf(threadId) === run) out.push({ run, threadId });
      }
      if (ids.length < 256) break;
      after = ids[ids.length - 1];
    }
    return out;
  }

  _namespaces(tx, run) {
    const out = [];
    for (const e of tx.scan({ run, prefix: Buffer.from('n'), batch: 16 })) {
      out.push(e.key.subarray(1).toString('utf8'));
    }
    return out;
  }

  // What lgRead reads of one namespace's checkpoints, newest first, strictly before `before` if
  // given, a page at a time: from the checkpoint keys, or from the metadata index of `index`;
  // only checkpoint `id` if given.
  *_stream(h, run, ns, before, index, id, page) {
    if (id) {
      if (before === undefined || id < before) {
        yield* b.lgRead(h, run, ns, id, null, 1, null, null, null, this._readFlags);
      }
      return;
    }
    let cursor = before;
    for (;;) {
      const got = b.lgRead(h, run, ns, null, cursor ?? null, page, index ? index.key : null,
        index ? index.json : null, null, this._readFlags);
      yield* got;
      if (got.length < page) return;
      cursor = got[got.length - 1][T_ID];
      page = Math.min(page * 2, 256);
    }
  }

  async *list(config, options) {
    const { before, filter } = options ?? {};
    let limit = options?.limit;
    const threadId = config.configurable?.thread_id;
    const nsWanted = config.configurable?.checkpoint_ns;
    const idWanted = config.configurable?.checkpoint_id;
    const beforeId = before?.configurable?.checkpoint_id;
    if (nsWanted !== undefined) checkName(nsWanted, 'checkpoint_ns');
    if (beforeId !== undefined) checkName(beforeId, 'before checkpoint_id');
    if (idWanted) checkName(idWanted, 'checkpoint_id');
    const conds = Object.entries(filter ?? {});
    let index;
    for (const [key, value] of conds) {
      const json = indexable(key, value);
      if (json !== undefined) {
        index = { key, json };
        break;
      }
    }
    if (limit !== undefined && limit <= 0) return;
    // Pages as large as what is asked for (a filter may drop some: then more pages). A limit
    // that is not an integer counts as MemorySaver counts it (2.5: 3 tuples).
    const page = limit !== undefined ? Math.min(Math.max(Math.ceil(limit) || 1, 1), 256) : 16;

    const tx = this.db.begin({ readOnly: true });
    const h = tx._h;
    try {
      const threads = threadId !== undefined && threadId !== null
        ? [{ run: this.runIdOf(checkName(String(threadId), 'thread_id')), threadId }]
        : this._threads(tx);
      for (const { run, threadId: tid } of threads) {
        const nss = nsWanted !== undefined ? [nsWanted] : this._namespaces(tx, run);
        // Merge the namespaces' streams, newest checkpoint id first.
        const streams = nss.map((ns) => ({
          ns, gen: this._stream(h, run, ns, beforeId, index, idWanted, page),
        }));
        // Each stream's next tuple, read when needed (null: not yet): a page is read only if
        // something is taken from it.
        const heads = streams.map(() => null);
        for (;;) {
          let best = -1;
          for (let i = 0; i < heads.length; i++) {
            if (heads[i] === null) heads[i] = streams[i].gen.next();
            if (heads[i].done) continue;
            if (best < 0 || heads[i].value[T_ID] > heads[best].value[T_ID]) best = i;
          }
          if (best < 0) break;
          const raw = heads[best].value;
          const ns = streams[best].ns;
          heads[best] = null;
          const tuple = await this._tuple(h, run, tid, ns, raw);
          if (tuple === undefined) continue;
          if (conds.length > 0 && !conds.every(([k, v]) => equalValue(tuple.metadata?.[k], v))) {
            continue;
          }
          yield tuple;
          if (limit !== undefined && --limit <= 0) {
            for (const s of streams) s.gen.return();
            return;
          }
        }
      }
    } finally {
      tx.free();
    }
  }
}

export default InmemSaver;
