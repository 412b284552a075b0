// InmemSaver — a LangGraph.js checkpointer (BaseCheckpointSaver) stored in inmem.
//
// Each LangGraph thread is an inmem run (app 'langgraph', tenant = the saver's namespace), whose
// id is derived from the thread id, so that deleting the thread is deleting the run: one
// transaction that erases every key of it. Inside the run, KV keys (binary, ordered by memcmp):
//
//   t                                     the thread id (the run exists <=> this key does)
//   n <ns>                                a checkpoint namespace used in the thread
//   c <ns> 00 <~cid> ff                   a checkpoint: the checkpoint without its channel values,
//                                         its metadata, its parent's id
//   b <ns> 00 <channel> 00 <version>      a channel's value at a version: stored once, when put()
//                                         is told (newVersions) that the channel changed
//   m <ns> 00 <key> 00 <json> 00 <~cid> ff   index of a checkpoint's primitive metadata values
//   w <ns> 00 <cid> 00 <task id> 00 <idx> a pending write
//
// <~cid> is the checkpoint id with every byte inverted (255 - b) and a 0xff terminator, so an
// ascending scan returns checkpoints newest first (ids are time-ordered uuid6 strings) and
// "before X" is a scan that starts just after X's key. list() is thus served by ordered scans of
// the checkpoint keys (or of a metadata index when the filter allows), reading only the
// checkpoints it returns; getTuple() reads one checkpoint key, its channels' values with one
// batch get, and its writes with one prefix scan. Every put and putWrites is one transaction.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  BaseCheckpointSaver,
  WRITES_IDX_MAP,
  TASKS,
  compareWritesSortKeys,
  writesSortKey,
  maxChannelVersion,
  getCheckpointId,
} from '@langchain/langgraph-checkpoint';

const require = createRequire(import.meta.url);
const inmem = require('../index.js');

const APP = 'langgraph';
const FORMAT = 1; // version of the record encodings below

// ---- encodings ---------------------------------------------------------------------------------

const ZERO = Buffer.from([0]);
const FF = Buffer.from([0xff]);

function utf8(s) {
  return Buffer.from(s, 'utf8');
}

function checkName(s, what) {
  if (typeof s !== 'string') throw new Error(`InmemSaver: ${what} must be a string`);
  if (s.includes('\0')) throw new Error(`InmemSaver: ${what} must not contain a NUL character`);
  return s;
}

// The checkpoint id, inverted and terminated: ascending key order = descending id order.
function invId(id) {
  const b = utf8(id);
  const out = Buffer.allocUnsafe(b.length + 1);
  for (let i = 0; i < b.length; i++) out[i] = 255 - b[i];
  out[b.length] = 0xff;
  return out;
}

function idFromInv(buf, start) {
  const out = Buffer.allocUnsafe(buf.length - start - 1);
  for (let i = 0; i < out.length; i++) out[i] = 255 - buf[start + i];
  return out.toString('utf8');
}

const K_THREAD = Buffer.from('t');

function nsKey(ns) {
  return Buffer.concat([Buffer.from('n'), utf8(ns)]);
}
function ckptPrefix(ns) {
  return Buffer.concat([Buffer.from('c'), utf8(ns), ZERO]);
}
function ckptKey(ns, id) {
  return Buffer.concat([ckptPrefix(ns), invId(id)]);
}
function blobKey(ns, channel, version) {
  return Buffer.concat([Buffer.from('b'), utf8(ns), ZERO, utf8(channel), ZERO, utf8(String(version))]);
}
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
function metaPrefix(ns, key, json) {
  return Buffer.concat([Buffer.from('m'), utf8(ns), ZERO, utf8(key), ZERO, utf8(json), ZERO]);
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

function unframe(buf, count) {
  const parts = [];
  let o = 0;
  for (let i = 0; i < count; i++) {
    if (o + 4 > buf.length) throw new Error('InmemSaver: a stored record is truncated');
    const n = buf.readUInt32LE(o);
    o += 4;
    if (o + n > buf.length) throw new Error('InmemSaver: a stored record is truncated');
    parts.push(buf.subarray(o, o + n));
    o += n;
  }
  return parts;
}

const FORMAT_BUF = Buffer.from([FORMAT]);

function checkFormat(b) {
  if (b.length !== 1 || b[0] !== FORMAT) {
    throw new Error(`InmemSaver: a stored record has format ${b[0]}, this version reads ${FORMAT}`);
  }
}

// checkpoint record: format, checkpoint type, checkpoint, metadata type, metadata, has parent,
// parent id
function encodeCheckpoint(ctype, cdata, mtype, mdata, parentId) {
  return frame([
    FORMAT_BUF, utf8(ctype), cdata, utf8(mtype), mdata,
    Buffer.from([parentId === undefined ? 0 : 1]), utf8(parentId === undefined ? '' : parentId),
  ]);
}

function decodeCheckpoint(buf) {
  const [f, ct, cd, mt, md, hp, pid] = unframe(buf, 7);
  checkFormat(f);
  return {
    ctype: ct.toString(), cdata: cd, mtype: mt.toString(), mdata: md,
    parentId: hp[0] ? pid.toString() : undefined,
  };
}

// write record: format, task id, channel, value type, value, task path
function encodeWrite(taskId, channel, type, data, taskPath) {
  return frame([FORMAT_BUF, utf8(taskId), utf8(channel), utf8(type), data, utf8(taskPath)]);
}

function decodeWrite(buf) {
  const [f, tid, ch, t, d, tp] = unframe(buf, 6);
  checkFormat(f);
  return { taskId: tid.toString(), channel: ch.toString(), type: t.toString(), data: d,
    taskPath: tp.toString() };
}

// blob: format, value type, value
function encodeBlob(type, data) {
  return frame([FORMAT_BUF, utf8(type), data]);
}

function decodeBlob(buf) {
  const [f, t, d] = unframe(buf, 3);
  checkFormat(f);
  return { type: t.toString(), data: d };
}

function equalValue(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

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
    this._strict = this.db.durability === 'strict';
    this._runIds = new Map();
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

  // A write transaction: on the thread pool for a strict database, else inline (the library's
  // own retry loop).
  async _write(fn) {
    if (this._strict) return this.db.transact(fn);
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

    const puts = [];
    const [[ctype, cdata], [mtype, mdata]] = await Promise.all([
      this.serde.dumpsTyped(rest),
      this.serde.dumpsTyped(metadata),
    ]);
    puts.push(ckptKey(ns, id), encodeCheckpoint(ctype, cdata, mtype, mdata, parentId),
      nsKey(ns), Buffer.alloc(0));
    for (const [channel, version] of Object.entries(newVersions ?? {})) {
      if (!Object.prototype.hasOwnProperty.call(values, channel)) continue;
      checkName(channel, 'a channel name');
      const [t, d] = await this.serde.dumpsTyped(values[channel]);
      puts.push(blobKey(ns, channel, version), encodeBlob(t, d));
    }
    const inv = invId(id);
    for (const [k, v] of Object.entries(metadata ?? {})) {
      const j = indexable(k, v);
      if (j !== undefined) puts.push(Buffer.concat([metaPrefix(ns, k, j), inv]), Buffer.alloc(0));
    }
    const run = this.runIdOf(tid);
    await this._write((tx) => {
      this._ensureThread(tx, run, tid);
      tx.putMany(puts, { run });
    });
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

  // Loads a whole tuple within one read-only transaction. The serde's loadsTyped may be async,
  // so the transaction stays open across awaits: it is a snapshot, used by this call alone.
  async _tupleAt(tx, run, threadId, ns, id, rec) {
    const c = decodeCheckpoint(rec);
    const [checkpoint, metadata] = await this._loadAll([
      { type: c.ctype, data: c.cdata }, { type: c.mtype, data: c.mdata }]);
    const versions = checkpoint.channel_versions ?? {};
    const channels = Object.keys(versions);
    const values = {};
    if (channels.length > 0) {
      const got = tx.getMany(channels.map((ch) => blobKey(ns, ch, versions[ch])), { run });
      const present = [];
      const blobs = [];
      for (let i = 0; i < channels.length; i++) {
        if (got[i].value === undefined) continue;
        present.push(channels[i]);
        blobs.push(decodeBlob(got[i].value));
      }
      const loaded = await this._loadAll(blobs);
      for (let i = 0; i < present.length; i++) values[present[i]] = loaded[i];
    }
    checkpoint.channel_values = values;
    if (checkpoint.v < 4 && c.parentId !== undefined) {
      // Before format 4 a checkpoint's pending sends were its parent's TASKS writes.
      const sends = this._writesOf(tx, run, ns, c.parentId).filter((w) => w.channel === TASKS);
      checkpoint.channel_values[TASKS] = await this._loadAll(sends);
      const vs = Object.values(checkpoint.channel_versions ?? {});
      checkpoint.channel_versions = checkpoint.channel_versions ?? {};
      checkpoint.channel_versions[TASKS] = vs.length > 0 ? maxChannelVersion(...vs)
        : this.getNextVersion(undefined);
    }
    const writes = this._writesOf(tx, run, ns, id);
    const wvals = await this._loadAll(writes);
    const pendingWrites = writes.map((w, i) => [w.taskId, w.channel, wvals[i]]);
    const tuple = {
      config: { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: id } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (c.parentId !== undefined) {
      tuple.parentConfig = {
        configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: c.parentId },
      };
    }
    return { tuple, metadata };
  }

  // A checkpoint's pending writes, decoded, in writesSortKey order.
  _writesOf(tx, run, ns, id) {
    const prefix = writesPrefix(ns, id);
    const out = [];
    for (const e of tx.scan({ run, prefix, batch: 32 })) {
      const w = decodeWrite(e.value);
      w.idx = e.key.readUInt32BE(e.key.length - 4) - 0x80000000;
      out.push(w);
    }
    out.sort((a, b) => compareWritesSortKeys(
      writesSortKey(a.taskPath, a.taskId, a.idx), writesSortKey(b.taskPath, b.taskId, b.idx)));
    return out;
  }

  // Deserialises several stored values: with one call of the serializer when they are all JSON
  // (their texts joined into one JSON array: the same revival, a fraction of the calls).
  async _loadAll(items) {
    if (items.length === 0) return [];
    if (items.length > 1 && items.every((x) => x.type === 'json')) {
      const parts = [Buffer.from('[')];
      items.forEach((x, i) => {
        if (i) parts.push(Buffer.from(','));
        parts.push(x.data);
      });
      parts.push(Buffer.from(']'));
      const all = await this.serde.loadsTyped('json', Buffer.concat(parts));
      if (Array.isArray(all) && all.length === items.length) return all;
    }
    return Promise.all(items.map((x) => this.serde.loadsTyped(x.type, x.data)));
  }

  async getTuple(config) {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const tid = checkName(String(threadId), 'thread_id');
    const ns = checkName(config.configurable?.checkpoint_ns ?? '', 'checkpoint_ns');
    const id = getCheckpointId(config);
    const run = this.runIdOf(tid);
    const tx = this.db.begin({ readOnly: true });
    try {
      let cid = id;
      let rec;
      if (id) {
        rec = tx.get(ckptKey(ns, checkName(id, 'checkpoint_id')), { run });
      } else {
        const first = tx.list({ run, prefix: ckptPrefix(ns), limit: 1 });
        if (first.length > 0) {
          rec = first[0].value;
          cid = idFromInv(first[0].key, ckptPrefix(ns).length);
        }
      }
      if (rec === undefined) return undefined;
      const { tuple } = await this._tupleAt(tx, run, threadId, ns, cid, rec);
      return tuple;
    } finally {
      tx.free();
    }
  }

  // The threads of this saver (their run ids and thread ids), newest run first.
  _threads(tx) {
    const out = [];
    let after;
    for (;;) {
      const ids = tx.runs.list({ app: APP, tenant: this.namespace || undefined, after, limit: 256 });
      for (const run of ids) {
        const t = tx.get(K_THREAD, { run });
        if (t !== undefined) out.push({ run, threadId: t.toString() });
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

  // Checkpoints of one namespace newest first, strictly before `before` if given: from the
  // checkpoint keys, or from the metadata index of `indexKey` = `json`.
  *_candidates(tx, run, ns, before, index) {
    const prefix = index ? metaPrefix(ns, index.key, index.json) : ckptPrefix(ns);
    const start = before !== undefined
      ? Buffer.concat([prefix, invId(before), ZERO]) : prefix;
    const end = Buffer.concat([prefix.subarray(0, prefix.length - 1), Buffer.from([1])]);
    const it = tx.scan({ run, start, end, batch: 16 });
    try {
      for (;;) {
        const e = it.nextEntry();
        if (e === undefined) return;
        const id = idFromInv(e.key, prefix.length);
        const rec = index ? tx.get(ckptKey(ns, id), { run }) : e.value;
        if (rec !== undefined) yield { id, rec };
      }
    } finally {
      it.free();
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

    const tx = this.db.begin({ readOnly: true });
    try {
      const threads = threadId !== undefined && threadId !== null
        ? [{ run: this.runIdOf(checkName(String(threadId), 'thread_id')), threadId }]
        : this._threads(tx);
      for (const { run, threadId: tid } of threads) {
        const nss = nsWanted !== undefined ? [nsWanted] : this._namespaces(tx, run);
        // Merge the namespaces' streams, newest checkpoint id first.
        const streams = nss.map((ns) => ({ ns, gen: this._candidates(tx, run, ns, beforeId, index) }));
        const heads = streams.map((s) => s.gen.next());
        for (;;) {
          let best = -1;
          for (let i = 0; i < heads.length; i++) {
            if (heads[i].done) continue;
            if (best < 0 || heads[i].value.id > heads[best].value.id) best = i;
          }
          if (best < 0) break;
          const { id, rec } = heads[best].value;
          const ns = streams[best].ns;
          heads[best] = streams[best].gen.next();
          if (idWanted && id !== idWanted) continue;
          const c = decodeCheckpoint(rec);
          if (conds.length > 0) {
            const md = await this.serde.loadsTyped(c.mtype, c.mdata);
            if (!conds.every(([k, v]) => equalValue(md?.[k], v))) continue;
          }
          const { tuple } = await this._tupleAt(tx, run, tid, ns, id, rec);
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
