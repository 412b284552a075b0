'use strict';
// The JavaScript face of inmem: Database, Transaction, Iterator and the primitives' namespaces
// (runs, events, state, traces), over the flat functions of the addon (src/*.c).
//
// Sync or async: calls that cannot block return their result; calls that can (open and close,
// commits that wait for an fsync, run deletion, chain verification, sweeps, collecting a scan,
// checkpoints and backups) have an ...Async form that runs on the thread pool and returns a
// promise. db.transact() is always async (its callback may await) and commits on the thread pool
// when commits may wait (db.commitMayWait); db.transactSync() runs a synchronous callback inside
// the library's own retry loop. The implicit writes (db.put, delete, cas and the primitives'
// one-call writes) are synchronous: where commits may wait they wait on the calling thread.

const b = require('./binding');
const errors = require('./errors');

const { ConflictError } = errors;

function err(code, message) {
  return errors.errorOf(code, message, b.errors);
}

function checkOpts(o, what) {
  if (o !== undefined && o !== null && typeof o !== 'object') {
    throw err('INMEM_EINVAL', `${what} must be an object`);
  }
  return o || {};
}

// ---- iterators -------------------------------------------------------------------------------

/** Iterates over a transaction's keys in order ({key, value, version}); a JS iterable. */
class Iterator {
  constructor(tx, h, batch) {
    this._tx = tx; // keeps the transaction (and its database) alive while iterating
    this._h = h;
    this._batch = batch;
    this._buf = [];
    this._pos = 0;
    this._done = false;
  }

  /** The next entry, or undefined at the end. */
  nextEntry() {
    if (this._freed) b.iterNext(this._h, 1); // throws MisuseError: the iterator was freed
    if (this._pos < this._buf.length) return this._buf[this._pos++];
    if (this._done) return undefined;
    this._buf = b.iterNext(this._h, this._batch);
    this._pos = 0;
    if (this._buf.length < this._batch) {
      this._done = true;
      b.iterFree(this._h); // at the end: release it now, not at the next collection
    }
    if (this._buf.length === 0) return undefined;
    return this._buf[this._pos++];
  }

  next() {
    const e = this.nextEntry();
    return e === undefined ? { value: undefined, done: true } : { value: e, done: false };
  }

  /** Frees the iterator now (also done at the end of a for...of, and with its transaction). */
  free() {
    b.iterFree(this._h);
    this._freed = true;
    this._done = true;
    this._buf = [];
  }

  return() {
    this.free();
    return { value: undefined, done: true };
  }

  [Symbol.iterator]() {
    return this;
  }
}

/**
 * A run's committed transactions in commit order ({version, timeMs, changes}), read in batches
 * of copies; a JS iterable. Reads through its transaction: freed at its end, by free(), by
 * leaving a for...of, or with the transaction (and, when it made its own, frees that).
 */
class Replay {
  constructor(tx, h, batch, ownsTx) {
    this._tx = tx;
    this._h = h;
    this._batch = batch;
    this._owns = ownsTx;
    this._buf = [];
    this._pos = 0;
    this._done = false;
  }

  _end() {
    this._done = true;
    b.iterFree(this._h);
    if (this._owns) this._tx.free();
  }

  /** The next committed transaction, or undefined at the end. */
  nextEntry() {
    if (this._freed) b.replayNext(this._h, 1); // throws MisuseError: the replay was freed
    if (this._pos < this._buf.length) return this._buf[this._pos++];
    if (this._done) return undefined;
    try {
      this._buf = b.replayNext(this._h, this._batch);
    } catch (e) {
      // On a transaction of its own nothing else can be using it: give up and free it. On the
      // caller's, the error may be passing (busy with an async call): a later next() goes on,
      // as an Iterator's does; one that has ended keeps throwing.
      if (this._owns) {
        this._end();
        this._freed = true;
      }
      throw e;
    }
    this._pos = 0;
    if (this._buf.length < this._batch) this._end();
    if (this._buf.length === 0) return undefined;
    return this._buf[this._pos++];
  }

  next() {
    const e = this.nextEntry();
    return e === undefined ? { value: undefined, done: true } : { value: e, done: false };
  }

  /** Frees the replay now (and the transaction it made for itself). */
  free() {
    if (!this._done) this._end();
    this._freed = true;
    this._buf = [];
  }

  return() {
    this.free();
    return { value: undefined, done: true };
  }

  [Symbol.iterator]() {
    return this;
  }
}

/** The differences between two runs (or one run at two versions), collected when made; a JS
 *  iterable of {primitive, kind, key, versionA, versionB, ...}, read in batches. */
class Diff {
  constructor(h, batch) {
    this._h = h;
    this._batch = batch;
    this._buf = [];
    this._pos = 0;
    this._done = false;
  }

  /** The next difference, or undefined at the end. */
  nextEntry() {
    if (this._freed) b.diffNext(this._h, 1); // throws MisuseError: the diff was freed
    if (this._pos < this._buf.length) return this._buf[this._pos++];
    if (this._done) return undefined;
    this._buf = b.diffNext(this._h, this._batch);
    this._pos = 0;
    if (this._buf.length < this._batch) {
      this._done = true;
      b.diffFree(this._h); // at the end: release it now, not at the next collection
    }
    if (this._buf.length === 0) return undefined;
    return this._buf[this._pos++];
  }

  next() {
    const e = this.nextEntry();
    return e === undefined ? { value: undefined, done: true } : { value: e, done: false };
  }

  /** Frees the differences now (also done at the end, and when collected). */
  free() {
    b.diffFree(this._h);
    this._freed = true;
    this._done = true;
    this._buf = [];
  }

  return() {
    this.free();
    return { value: undefined, done: true };
  }

  [Symbol.iterator]() {
    return this;
  }
}

function batchOf(o, dflt) {
  return o.batch === undefined ? dflt : o.batch;
}

// ---- primitives: shared between a database (standalone forms) and a transaction --------------

class Runs {
  constructor(owner) { this._o = owner; }
  /** Begins a run; returns its id. */
  begin(opts) { return b.runBegin(this._o._handle(), checkOpts(opts, 'options')); }
  end(id, status) { b.runEnd(this._o._handle(), id, status); }
  get(id) { return b.runGet(this._o._handle(), id); }
  list(filter) {
    const f = checkOpts(filter, 'filter');
    return b.runList(this._o._handle(), f, f.after, f.limit);
  }
  delete(id) { b.runDelete(this._o._handle(), id); }
  /**
   * Replays a run: its committed transactions after version opts.after (0: from the start) up
   * to the snapshot, in commit order, each {version, timeMs, changes} with its writes in key
   * order. HistoryError if the retained history no longer holds every version after `after`.
   * On the database it reads in a read-only transaction of its own (at opts.at, if given).
   */
  replay(run, opts) {
    const o = checkOpts(opts, 'options');
    const batch = batchOf(o, 16);
    if (this._o instanceof Transaction) {
      return new Replay(this._o, b.runReplay(this._o._handle(), run, o.after), batch, false);
    }
    const tx = this._o.begin({ readOnly: true, at: o.at });
    try {
      return new Replay(tx, b.runReplay(tx._handle(), run, o.after), batch, true);
    } catch (e) {
      tx.free();
      throw e;
    }
  }
  /** Forks `parent`: a new run (begun with opts, its parent set) that starts with the parent's
   *  data in every primitive as of version opts.at (0 or absent: the newest, or the
   *  transaction's snapshot), then diverges. Returns the fork's id. */
  fork(parent, opts) {
    const o = checkOpts(opts, 'options');
    return b.runFork(this._o._handle(), parent, o.at, o);
  }
  /** Every run id under which data is stored (begun or not), ascending. */
  listStored(opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.runListStored(h, o.after, o.limit));
  }
  /** Deletes a run and all its data on the thread pool (a large run takes a while). */
  async deleteAsync(id) { return b.runDeleteAsync(this._o._handle(), id); }
}

/** The database's runs: the standalone forms, and what exists only on a database. */
class DbRuns extends Runs {
  /**
   * Compares run `a` as of version opts.atA with run `b` as of opts.atB (0 or absent: the
   * newest; both: one snapshot): per primitive, KV keys and state cells added, removed or
   * changed, event streams with the first sequence number that differs, spans. Returns an
   * iterable Diff (the differences are collected now).
   */
  diff(a, b2, opts) {
    const o = checkOpts(opts, 'options');
    return new Diff(b.runDiff(this._o._handle(), a, o.atA, b2, o.atB), batchOf(o, 256));
  }
  /** diff() on the thread pool, resolving to an array of every difference. */
  async diffAsync(a, b2, opts) {
    const o = checkOpts(opts, 'options');
    return b.runDiffAsync(this._o._handle(), a, o.atA, b2, o.atB);
  }
}

class Events {
  constructor(owner) { this._o = owner; }
  append(run, stream, type, payload) {
    return b.eventAppend(this._o._handle(), run, stream, type, payload);
  }
  appendBatch(run, stream, events) {
    return b.eventAppendBatch(this._o._handle(), run, stream, events);
  }
  get(run, stream, seq) { return this._o._read((h) => b.eventGet(h, run, stream, seq)); }
  range(run, stream, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.eventRange(h, run, stream, o.from, o.to, o.backward, o.limit));
  }
  rangeTime(run, stream, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.eventRangeTime(h, run, stream, o.fromMs, o.toMs, o.limit));
  }
  info(run, stream) { return b.eventInfo(this._o._handle(), run, stream); }
  streams(run, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.eventStreams(h, run, o.after, o.limit));
  }
  /** 0 if the chain checks, else the first broken sequence number. */
  verify(run, stream) { return b.eventVerify(this._o._handle(), run, stream); }
  async verifyAsync(run, stream) { return b.eventVerifyAsync(this._o._handle(), run, stream); }
}

class State {
  constructor(owner) { this._o = owner; }
  get(run, name) { return b.stateGet(this._o._handle(), run, name); }
  set(run, name, value) { return b.stateSet(this._o._handle(), run, name, value); }
  cas(run, name, expectedVersion, value) {
    return b.stateCas(this._o._handle(), run, name, expectedVersion, value);
  }
  casValue(run, name, expected, value) {
    return b.stateCasValue(this._o._handle(), run, name, expected, value);
  }
  list(run, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.stateList(h, run, o.after, o.limit));
  }
  /** The cell's versions, newest first, like a key's history. */
  history(run, name, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.stateHistory(h, run, name, o.before, o.limit));
  }
}

/** The database's events: the standalone forms, and waiting for a stream. */
class DbEvents extends Events {
  /** Resolves once the stream has an event past the version opts.after (see db.wait()). */
  wait(run, stream, opts) { return this._o.wait('event', run, stream, opts); }
}

/** The database's state cells: the standalone forms, transitions, and waiting for a cell. */
class DbState extends State {
  /** Applies fn(cur, version) -> next to the cell in a transaction retried on conflict. */
  transition(run, name, fn, opts) { return b.stateTransition(this._o._handle(), run, name, fn, opts); }
  /** Resolves once the cell moves past the version opts.after (see db.wait()). */
  wait(run, name, opts) { return this._o.wait('state', run, name, opts); }
}

class Traces {
  constructor(owner) { this._o = owner; }
  record(run, span) { return b.traceRecord(this._o._handle(), run, span); }
  get(run, id) { return this._o._read((h) => b.traceGet(h, run, id)); }
  query(run, filter) {
    const f = checkOpts(filter, 'filter');
    return this._o._read((h) => b.traceQuery(h, run, f, f.after, f.limit));
  }
  tree(run, root, opts) {
    const o = checkOpts(opts, 'options');
    return this._o._read((h) => b.traceTree(h, run, root, o.limit));
  }
}

// ---- transactions ----------------------------------------------------------------------------

/**
 * A transaction: a snapshot, the reads and writes made in it, committed (or aborted) as one.
 * Use it from one async flow at a time; memory is copied out, so results stay valid after it
 * ends. Free it (or let db.transact() do it) when done.
 */
class Transaction {
  constructor(db, h, readOnly, borrowed) {
    this.db = db; // keeps the database open as long as the transaction is reachable
    this._h = h;
    this.readOnly = !!readOnly;
    this._borrowed = !!borrowed;
  }

  /** The primitives, in this transaction. */
  get runs() { return new Runs(this); }
  get events() { return new Events(this); }
  get state() { return new State(this); }
  get traces() { return new Traces(this); }

  _handle() { return this._h; }
  _read(fn) { return fn(this._h); }

  /** 'active' | 'committing' (a commitAsync() in flight) | 'committed' | 'aborted' | 'freed' */
  get status() { return b.txnState(this._h); }

  get(key, opts) { return b.kvGet(this._h, opts && opts.run, key, false); }
  getEntry(key, opts) { return b.kvGet(this._h, opts && opts.run, key, true); }
  put(key, value, opts) {
    b.kvPut(this._h, opts && opts.run, key, value, opts && opts.ttl, opts && opts.expireAt);
  }
  /** When the key's value expires (Unix ms; 0: never), or undefined if it is missing. */
  getExpiry(key, opts) { return b.kvGetExpiry(this._h, opts && opts.run, key); }
  /** Several puts in one call: pairs is [key, value, key, value, ...]. */
  putMany(pairs, opts) { b.kvPutMany(this._h, opts && opts.run, pairs); }
  delete(key, opts) { b.kvDelete(this._h, opts && opts.run, key); }
  cas(key, expectedVersion, value, opts) {
    b.kvCas(this._h, opts && opts.run, key, expectedVersion, value);
  }
  getMany(keys, opts) { return b.kvGetMany(this._h, opts && opts.run, keys); }
  /** The key's committed versions that this snapshot covers, newest first (values and
   *  deletes): as many as the retained history keeps. A page of at most `limit` (1000); pass
   *  the last version returned as `before` for the next. */
  history(key, opts) {
    const o = checkOpts(opts, 'options');
    return b.kvHistory(this._h, o.run, key, o.before, o.limit);
  }
  list(opts) {
    const o = checkOpts(opts, 'options');
    return b.kvList(this._h, o.run, o.prefix, o.after, o.limit);
  }
  /** An iterator over {start <= key < end} or the keys beginning with prefix. */
  scan(opts) {
    const o = checkOpts(opts, 'options');
    const batch = o.batch === undefined ? 64 : o.batch;
    return new Iterator(this, b.kvScan(this._h, o.run, o.start, o.end, o.prefix), batch);
  }
  /** Collects a scan on the thread pool: for large ranges. */
  async scanAsync(opts) {
    const o = checkOpts(opts, 'options');
    return b.kvScanAsync(this._h, o.run, o.start, o.end, o.prefix, o.limit);
  }

  /** Commits; returns the commit's version (0 for a read-only transaction). Throws
   *  ConflictError (see err.conflict) when a key read or CAS-checked changed. */
  /** A deadline timeoutUs microseconds from now (0 removes it): a commit that comes after it
   *  applies nothing and throws TimeoutError (inmem_txn_set_timeout). */
  setTimeout(timeoutUs) { b.txnSetTimeout(this._h, timeoutUs); }
  commit() { return b.txnCommit(this._h, false); }
  /** commit() on the thread pool: for databases whose commits may wait for an fsync
   *  (db.commitMayWait). */
  async commitAsync() { return b.txnCommitAsync(this._h, false); }
  abort() { b.txnAbort(this._h, false); }
  /** Releases the handle (aborting if still active). Idempotent. */
  free() { b.txnFree(this._h); }
  describe() { return b.txnDescribe(this._h); }
}

// ---- databases -------------------------------------------------------------------------------

function sleepUs(us) {
  if (us < 1000) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => setTimeout(resolve, Math.floor(us / 1000)));
}

// Equal jitter, like the library's closure transactions: uniform in [b/2, b].
function jitter(us) {
  const half = Math.floor(us / 2);
  return half + Math.floor(Math.random() * (us - half + 1));
}

function retryOptions(opts) {
  const o = checkOpts(opts, 'options');
  const r = {
    maxAttempts: o.maxAttempts === undefined ? 10 : o.maxAttempts,
    backoffInitialUs: o.backoffInitialUs === undefined ? 100 : o.backoffInitialUs,
    backoffMaxUs: o.backoffMaxUs === undefined ? 10000 : o.backoffMaxUs,
    timeoutUs: o.timeoutUs === undefined ? 0 : o.timeoutUs,
  };
  for (const k of Object.keys(r)) {
    if (!Number.isSafeInteger(r[k]) || r[k] < 0) {
      throw err('INMEM_EINVAL', `${k} must be a non-negative integer`);
    }
  }
  if (r.maxAttempts < 1 || r.backoffMaxUs < r.backoffInitialUs) {
    throw err('INMEM_EINVAL', 'maxAttempts must be at least 1 and backoffMaxUs >= backoffInitialUs');
  }
  return r;
}

/** An open database. Share it: every method may be called at any time, from any async flow. */
class Database {
  constructor(h) {
    this._h = h;
    this.runs = new DbRuns(this);
    this.events = new DbEvents(this);
    this.state = new DbState(this);
    this.traces = new Traces(this);
  }

  _handle() { return this._h; }
  _read(fn) {
    const tx = b.txnBegin(this._h, true);
    try {
      return fn(tx);
    } finally {
      b.txnFree(tx);
    }
  }

  /** 'none' | 'async' | 'batched' | 'strict' */
  get durability() { return b.dbDurability(this._h); }
  /** Whether a commit that writes may wait for an fsync: strict durability, or
   *  maxUnsyncedCommits set in batched or async mode (a commit past the cap waits). */
  get commitMayWait() { return b.dbCommitWaits(this._h); }
  get isOpen() { return b.dbIsOpen(this._h); }

  /** Closes: frees the transactions still open on this handle, fsyncs, releases the lock
   *  (when no other handle in this process shares the directory). Idempotent. */
  close() { b.dbClose(this._h); }
  async closeAsync() { return b.dbCloseAsync(this._h); }
  stats() { return b.dbStats(this._h); }
  recovery() { return b.dbRecovery(this._h); }

  // Implicit operations: each its own transaction.
  get(key, opts) { return b.dbGet(this._h, opts && opts.run, key, false); }
  getEntry(key, opts) { return b.dbGet(this._h, opts && opts.run, key, true); }
  put(key, value, opts) {
    if (opts && opts.expireAt !== undefined) {
      const tx = this.begin(); // a blind write: it never conflicts
      try {
        tx.put(key, value, opts);
        return tx.commit();
      } finally {
        tx.free();
      }
    }
    return b.dbPut(this._h, opts && opts.run, key, value, opts && opts.ttl);
  }
  getExpiry(key, opts) { return this.read((tx) => tx.getExpiry(key, opts)); }
  delete(key, opts) { return b.dbDelete(this._h, opts && opts.run, key); }
  cas(key, expectedVersion, value, opts) {
    return b.dbCas(this._h, opts && opts.run, key, expectedVersion, value);
  }
  list(opts) {
    const o = checkOpts(opts, 'options');
    return b.dbList(this._h, o.run, o.prefix, o.after, o.limit);
  }
  /** A key's history (see Transaction.history), read in a read-only transaction. */
  history(key, opts) { return this.read((tx) => tx.history(key, opts)); }
  sweep() { return b.dbSweep(this._h); }
  async sweepAsync() { return b.dbSweepAsync(this._h); }

  /** Takes a checkpoint now and waits for it: an image of every key's newest value at the
   *  newest commit, installed atomically; the older image and the log it covers are removed
   *  (deleted data then leaves no byte in the directory). Returns the version it covers.
   *  NotSupportedError with durability 'none', ReadOnlyError on a read-only database. */
  checkpoint() { return b.dbCheckpoint(this._h); }
  /** checkpoint() on the thread pool (writing the image takes a while on a large database). */
  async checkpointAsync() { return b.dbCheckpointAsync(this._h); }
  /** Writes an online backup into dir (created if missing; it must be empty) while writers go
   *  on: the directory opens to exactly the state of the returned version. Any durability. */
  backup(dir) { return b.dbBackup(this._h, dir); }
  async backupAsync(dir) { return b.dbBackupAsync(this._h, dir); }

  /**
   * Waits, without blocking the event loop, until something moves past a version: `what` is
   * 'kv' (the key `key` of `run`), 'state' (the cell named `key`) or 'event' (the stream named
   * `key`: any append moves it). Resolves to the version it moved to as soon as its visible
   * version (a delete's included) is past opts.after (default 0: once it exists; at once if it
   * already is). Rejects with TimeoutError after opts.timeoutMs (default: never; 0 just looks),
   * with ClosedError if this database handle is closed meanwhile, and with opts.signal's reason
   * if that AbortSignal aborts. Woken by the commit that moves it (any thread or handle of this
   * process), never by polling.
   */
  wait(what, run, key, opts) {
    const o = checkOpts(opts, 'options');
    const signal = o.signal;
    if (signal !== undefined && signal !== null) {
      if (typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
        throw err('INMEM_EINVAL', 'options.signal must be an AbortSignal');
      }
      if (signal.aborted) return Promise.reject(signal.reason);
    }
    const [promise, id] = b.watchStart(this._h, what, run, key, o.after, o.timeoutMs);
    if (signal && id !== 0) {
      const onAbort = () => b.watchCancel(this._h, id, signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => signal.removeEventListener('abort', onAbort);
      promise.then(done, done);
    }
    return promise;
  }
  /** wait() that blocks the calling thread (for scripts and worker threads): returns the
   *  version; TimeoutError after opts.timeoutMs (default: never). */
  waitSync(what, run, key, opts) {
    const o = checkOpts(opts, 'options');
    return b.waitSync(this._h, what, run, key, o.after, o.timeoutMs);
  }

  /** Begins an explicit transaction: commit() or abort(), then free(). With `at` (a version)
   *  or `atTime` (Unix ms), a read-only transaction on the state as of that commit (time
   *  travel: docs/history.md); HistoryError if the retained history no longer reaches it.
   *  With `timeoutUs`, a deadline (see Transaction.setTimeout()). */
  begin(opts) {
    const o = checkOpts(opts, 'options');
    const at = o.at !== undefined && o.at !== null;
    const atTime = o.atTime !== undefined && o.atTime !== null;
    if (at && atTime) throw err('INMEM_EINVAL', 'give at or atTime, not both');
    let tx;
    if (at) tx = new Transaction(this, b.txnBeginAt(this._h, o.at), true, false);
    else if (atTime) tx = new Transaction(this, b.txnBeginAtTime(this._h, o.atTime), true, false);
    else tx = new Transaction(this, b.txnBegin(this._h, !!o.readOnly), !!o.readOnly, false);
    if (o.timeoutUs !== undefined && o.timeoutUs !== null) {
      try {
        tx.setTimeout(o.timeoutUs);
      } catch (e) {
        tx.free();
        throw e;
      }
    }
    return tx;
  }

  /** The wall-clock time (Unix ms) commit `version` was made at (kept while history retention
   *  is on; HistoryError otherwise, or for a time no longer kept). */
  versionTime(version) { return b.dbVersionTime(this._h, version); }
  /** The newest commit made at or before `timeMs` (Unix ms); HistoryError if retention is off
   *  or timeMs is before the oldest commit time kept. */
  timeVersion(timeMs) { return b.dbTimeVersion(this._h, timeMs); }

  /**
   * Runs fn(tx) in a transaction and commits it; on a conflict (at commit, or a ConflictError
   * thrown by fn) runs it again on a fresh snapshot after an exponential back-off with jitter
   * (maxAttempts 10, backoffInitialUs 100 doubling to backoffMaxUs 10000, timeoutUs 0 = none).
   * Any other error thrown by fn aborts and is rethrown. Resolves to fn's result.
   * fn may run several times: keep its outside effects idempotent.
   */
  async transact(fn, opts) {
    if (typeof fn !== 'function') throw err('INMEM_EINVAL', 'the callback must be a function');
    const r = retryOptions(opts);
    const ro = !!(opts && opts.readOnly);
    const waits = this.commitMayWait;
    const deadline = r.timeoutUs ? performance.now() * 1000 + r.timeoutUs : 0;
    let backoff = r.backoffInitialUs;
    for (let attempt = 1; ; attempt++) {
      const tx = new Transaction(this, b.txnBegin(this._h, ro), ro, false);
      let result;
      try {
        // the deadline bounds each attempt too: one whose fn runs past it is not committed
        if (deadline) tx.setTimeout(Math.max(1, Math.ceil(deadline - performance.now() * 1000)));
        result = await fn(tx);
        if (waits && !ro) await b.txnCommitAsync(tx._h, true);
        else b.txnCommit(tx._h, true);
        return result;
      } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
      } finally {
        tx.free();
      }
      // counted in stats() as the library's loop counts transactSync()'s: retries,
      // retriesExhausted, deadlinesExpired
      if (attempt >= r.maxAttempts) {
        b.dbNoteRetry(this._h, 1);
        throw err('INMEM_ERETRIES');
      }
      const wait = jitter(backoff);
      if (deadline && performance.now() * 1000 + wait >= deadline) {
        b.dbNoteRetry(this._h, 2);
        throw err('INMEM_ETIMEDOUT');
      }
      await sleepUs(wait);
      backoff = Math.min(backoff * 2, r.backoffMaxUs);
      b.dbNoteRetry(this._h, 0);
    }
  }

  /** transact() for a synchronous fn, run by the library's own retry loop (inmem_db_transact):
   *  returns fn's result; a throw aborts and is rethrown (no retry). */
  transactSync(fn, opts) {
    if (typeof fn !== 'function') throw err('INMEM_EINVAL', 'the callback must be a function');
    return b.transactSync(this._h, (h) => fn(new Transaction(this, h, false, true)), opts);
  }

  /** Runs fn(tx) in a read-only transaction (a consistent snapshot) and returns its result;
   *  with { at } or { atTime }, on the state as of that commit (see begin()). */
  read(fn, opts) {
    if (typeof fn !== 'function') throw err('INMEM_EINVAL', 'the callback must be a function');
    const o = checkOpts(opts, 'options');
    const tx = this.begin({ readOnly: true, at: o.at, atTime: o.atTime });
    try {
      return fn(tx);
    } finally {
      tx.free();
    }
  }
}

// ---- module functions ------------------------------------------------------------------------

/** Opens (creating if needed) the database in directory `path` (null with durability 'none').
 *  Opening a directory this process already has open shares that database. */
function open(path, options) {
  return new Database(b.dbOpen(path === undefined ? null : path, options));
}

/** open() on the thread pool (recovery replays the log): resolves to a Database. */
async function openAsync(path, options) {
  return new Database(await b.dbOpenAsync(path === undefined ? null : path, options));
}

/** A new time-ordered run id (36-character string). */
function newRunId() { return b.runIdNew(); }
/** Whether s is a run id in the 36-character form (or a 16-byte Buffer). */
function isRunId(s) { return b.runIdParse(s) !== undefined; }
/** The 16 bytes of a run id. */
function runIdBytes(s) { return b.runIdBytes(s); }
/** The 36-character form of a run id given as 16 bytes (or as a string, normalised). */
function formatRunId(id) {
  const s = b.runIdParse(id);
  if (s === undefined) throw err('INMEM_EINVAL', 'not a run id');
  return s;
}

module.exports = {
  open, openAsync, newRunId, isRunId, runIdBytes, formatRunId, Database, Transaction, Iterator,
  Replay, Diff,
  version: b.version, errorCodes: b.errors,
  // the C library's INMEM_COUNT_UNKNOWN (UINT64_MAX) as the number recovery reports carry
  COUNT_UNKNOWN: 2 ** 64,
};
