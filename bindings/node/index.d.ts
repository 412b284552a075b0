// Type declarations of inmem for Node.js (see docs/node.md for the guide).

/// <reference types="node" />

/** Bytes: a Buffer, any TypedArray/DataView/ArrayBuffer, or a string (UTF-8). */
export type Bytes = Buffer | ArrayBufferView | ArrayBuffer | string;
/** A run id: its 36-character form, or its 16 bytes. null/undefined: the shared scope. */
export type RunId = string;
export type RunRef = RunId | Buffer | null | undefined;
export type Durability = 'none' | 'async' | 'batched' | 'strict';

export interface OpenOptions {
  /** Default 'batched'. Every mode but 'none' needs a directory. */
  durability?: Durability;
  maxKeySize?: number;
  maxValueSize?: number;
  maxTxns?: number;
  walSegmentSize?: number;
  syncIntervalMs?: number;
  syncCommits?: number;
  ttlSweepIntervalMs?: number;
  /** Truncate a corrupt log at its last good transaction instead of failing. */
  repair?: boolean;
  /** Replay the log into memory and change nothing; works beside a writer. */
  readOnly?: boolean;
  /** Create the database if the directory holds none (default true). */
  createIfMissing?: boolean;
  /** Mode of the files created (default 0o600; the directory gets 0o700). */
  fileMode?: number;
  /** Batched and async: never more than this many acknowledged commits unsynced (0: no cap). */
  maxUnsyncedCommits?: number;
  /** Automatic checkpoints: one when the log has grown by this many times the live data since
   *  the last (default 4; 0 turns them off, checkpoint() still works)... */
  checkpointLogRatio?: number;
  /** ...but not before this many bytes were logged (default 16 MiB). */
  checkpointLogMin?: number;
  /** A clean close that logged (or replayed) anything since the last checkpoint takes one, so
   *  that the next open loads an image instead of replaying the log (default false). */
  checkpointOnClose?: boolean;
  /** Retained history (docs/history.md): keep every version replaced (or deleted) less than
   *  this many ms ago, and the one visible then (default 0: none). */
  historyMs?: number;
  /** Retained history: keep at least this many of the newest versions of every key, however
   *  old (default 0; 0 and 1: nothing beyond the newest). */
  historyVersions?: number;
}

export interface RetryOptions {
  /** Total runs of the callback (default 10). */
  maxAttempts?: number;
  /** Back-off before the first retry, doubling with jitter (default 100). */
  backoffInitialUs?: number;
  /** Largest back-off (default 10000). */
  backoffMaxUs?: number;
  /** Give up with TimeoutError after this long; 0 = never (default). */
  timeoutUs?: number;
}

export interface BeginOptions {
  readOnly?: boolean;
  /** Time travel: the state right after commit `at` (0: the empty state before the first). */
  at?: number;
  /** Time travel: the state after the newest commit made at or before this Unix ms time. */
  atTime?: number;
  /** A deadline in microseconds from now (see Transaction.setTimeout()). */
  timeoutUs?: number;
}

export interface TransactOptions extends RetryOptions {
  readOnly?: boolean;
}

export interface Entry {
  key: Buffer;
  value: Buffer;
  /** The commit that wrote it; 0 for a pending write of this transaction. */
  version: number;
}
export interface MaybeEntry {
  key: Buffer;
  value: Buffer | undefined;
  version: number;
}
export interface Versioned {
  value: Buffer;
  version: number;
}

/** One committed version of a key or state cell (history()). */
export interface VersionInfo {
  /** The commit that wrote it. */
  version: number;
  /** That commit's wall-clock time, Unix ms (0: not known). */
  timeMs: number;
  /** A delete (value undefined). */
  deleted: boolean;
  value: Buffer | undefined;
  /** KV: when the value expires, Unix ms (0: never). */
  expireAt: number;
  /** On the oldest version kept when older ones were freed. */
  olderFreed: boolean;
}
export interface HistoryPage {
  /** Cursor: the versions before this one (the last version of the previous page). */
  before?: number;
  /** At most this many (default 1000, at most 2^20). */
  limit?: number;
}

export interface KeyOptions { run?: RunRef }
export interface PutOptions extends KeyOptions {
  /** Time to live in ms (0: none). */
  ttl?: number;
  /** Or: the absolute expiry, Unix ms (0: none). */
  expireAt?: number;
}
export interface ListOptions extends KeyOptions {
  prefix?: Bytes;
  /** Cursor: list the keys after this one. */
  after?: Bytes;
  /** At most this many (default 1000; a full page may not be the end: pass its last key as
   *  after). */
  limit?: number;
}
export interface ScanOptions extends KeyOptions {
  /** From this key (inclusive); default the run's first. */
  start?: Bytes;
  /** To this key (exclusive); default no bound. */
  end?: Bytes;
  /** Instead of start/end: the keys beginning with this. */
  prefix?: Bytes;
  /** Entries fetched per call into the addon (default 64). */
  batch?: number;
}
export interface ScanAsyncOptions extends KeyOptions {
  start?: Bytes;
  end?: Bytes;
  prefix?: Bytes;
  limit?: number;
}

export interface Stats {
  /** Committed transactions that wrote something, but for the TTL sweeper's (expiredSwept). */
  commits: number;
  commitsReadonly: number; abortsUser: number; abortsReadConflict: number;
  abortsCasConflict: number;
  /** Re-runs after a conflict, and closure transactions that gave up: transact(),
   *  transactSync(), state.transition() and the standalone writes of runs, events, state and
   *  traces (the conflicts themselves count in abortsReadConflict and abortsCasConflict). */
  retries: number; retriesExhausted: number;
  /** Transactions that gave up with TimeoutError: commits past their deadline (setTimeout(),
   *  begin({ timeoutUs }), an attempt of transact()), and retry loops whose time ran out
   *  between attempts (transact(), transactSync(), state.transition()). */
  deadlinesExpired: number;
  version: number; keys: number; retainedVersions: number; openTxns: number;
  oldestSnapshotVersion: number; oldestSnapshotAgeUs: number; walBytes: number;
  walSyncs: number; walSyncedCommits: number;
  /** Checkpoints taken since open (checkpoint(), automatic, at close), and those that failed
   *  (the database then goes on with the previous image and the log). */
  checkpoints: number; checkpointFailures: number;
  /** The newest image's version (0: none), its size in bytes, how long it took (µs). */
  checkpointVersion: number; checkpointBytes: number; checkpointTimeUs: number;
  /** Bytes logged since the newest checkpoint (or the open): what the next open replays. */
  walBytesSinceCheckpoint: number;
  /** Key and value bytes of every key's newest value. */
  liveBytes: number;
  /** The code of the last checkpoint that failed (e.g. 'INMEM_EIO'); null once one succeeds. */
  checkpointError: string | null;
  /** Value bytes of the versions kept that are not their key's newest: retained history and
   *  what open transactions still see (retainedVersions counts them). */
  historyBytes: number;
  /** The oldest version begin({ at }) accepts now (with no history kept: the oldest version an
   *  open transaction holds, or the newest). */
  historyFloor: number;
  /** The database's history policy in force (stored in the database): its window in ms and
   *  the versions it keeps per key (0 and 0: none). */
  historyMs: number;
  historyVersions: number;
  /** Commits an error ended (none of it visible, not in commits): a strict commit whose fsync
   *  failed (IOError), a log that refuses writes or versions that reached their limit, 2^63 - 1
   *  (ReadOnlyError), memory. */
  abortsError: number;
  /** The sweeper's commits (background, or sweep()): one per expired value it deleted, and one
   *  per sweep that dropped the records of erased runs (see docs/history.md, "Limits"). Each
   *  moves the version, and is not in commits. */
  expiredSwept: number;
}

export interface RecoveryInfo {
  segments: number; bytes: number; txnsApplied: number; txnsDiscarded: number;
  recordsSkipped: number; version: number; txnId: number; timeUs: number;
  tornTail: boolean; tailFile: string; tailOffset: number;
  repaired: boolean; repairFile: string; repairOffset: number; bytesDropped: number;
  txnsDropped: number; tailBytes: number; liveWriter: boolean; created: boolean;
  /** The checkpoint image recovery started from (0 and '': none) and its file; the log's
   *  commits up to its version were skipped (txnsSkipped): the image holds them. */
  checkpointVersion: number; checkpointFile: string; txnsSkipped: number;
  /** Microseconds spent loading the image (part of timeUs). */
  checkpointLoadUs: number;
  /** The newest image was damaged and an older one, with the log covering the difference, was
   *  used instead (nothing lost). */
  checkpointFallback: boolean;
  /** With repair: keys lost from a damaged image that no log covered (repairFile names it). */
  keysDropped: number;
}

export interface Conflict {
  /** 'read': a key read changed; 'cas': a CAS's expected version did not match. */
  rule: 'read' | 'cas';
  run: RunId | null;
  key: Buffer;
  expected: number;
  found: number;
  /** The key's primitive (null: an internal record, such as a run's count of forks). */
  primitive: 'kv' | 'event' | 'state' | 'trace' | 'run' | null;
}

export interface TxnInfo {
  state: 'active' | 'validating' | 'committed' | 'aborted';
  reason: 'none' | 'user' | 'read_conflict' | 'cas_conflict' | 'error' | 'deadline';
  startVersion: number;
  commitVersion: number;
  readSetSize: number;
  writeSetSize: number;
  casCount: number;
  conflict?: Conflict;
}

// ---- primitives ---------------------------------------------------------------------------

export type RunStatus = 'active' | 'completed' | 'failed' | 'cancelled' | 'archived';
export interface RunOptions {
  id?: RunRef; parent?: RunRef; tenant?: string; app?: string; agent?: string; tags?: string[];
  /** true: the run keeps history as historyMs and historyVersions say, not as the database's
   *  options say (both 0: it keeps less). Default: true when either is given, else false. */
  history?: boolean;
  historyMs?: number;
  historyVersions?: number;
}
export interface ForkOptions extends RunOptions {
  /** The parent's version to start from (0 or absent: the newest, or the transaction's
   *  snapshot). An older one needs the parent's retained history (else HistoryError). */
  at?: number;
}
export interface RunInfo {
  id: RunId; parent: RunId | null; status: RunStatus; createdMs: number; endedMs: number;
  tenant: string | null; app: string | null; agent: string | null; tags: string[];
}
export interface RunFilter {
  status?: RunStatus; tag?: string;
  /** A run id: its children; 'none': the runs without a parent. */
  parent?: RunRef | 'none';
  tenant?: string; app?: string; agent?: string;
  /** Cursor: the last id of the previous page. */
  after?: RunRef;
  /** At most this many (default 100, at most 2^20). */
  limit?: number;
}
/** Which primitive a key belongs to (replay, diff; wait takes 'kv', 'state' or 'event'). */
export type Primitive = 'kv' | 'event' | 'state' | 'trace' | 'run';

/** One write of a replayed transaction (copies). */
export interface Change {
  primitive: Primitive;
  /** KV: the key; state: the cell's name; event: the stream's name; trace: the span id (16
   *  bytes); run: empty (the run's metadata). */
  key: Buffer;
  /** state, event: the name, as a string. */
  name?: string;
  /** trace: the span id. */
  spanId?: RunId;
  /** A delete (value undefined); deleting a run deletes every key of it. */
  deleted: boolean;
  /** KV: the value; state: the cell's value; event: the payload; trace and run: the record, as
   *  docs/FORMAT.md lays it out. */
  value: Buffer | undefined;
  /** KV: the value's expiry, Unix ms (0: none). */
  expireAt?: number;
  /** event: the sequence number, and the event itself (not for a delete). */
  seq?: number;
  event?: Event;
}
/** One committed transaction of a replayed run. */
export interface ReplayEntry {
  version: number;
  /** Its commit time, Unix ms (0: not known). */
  timeMs: number;
  /** Its writes to the run, in key order. */
  changes: Change[];
}
export interface ReplayOptions {
  /** Replay the transactions after this version (default 0: from the start). */
  after?: number;
  /** On the database: replay up to this version (default: the newest). */
  at?: number;
  /** Transactions fetched per call into the addon (default 16). */
  batch?: number;
}

export interface Runs {
  begin(opts?: RunOptions): RunId;
  end(id: RunRef, status: RunStatus): void;
  get(id: RunRef): RunInfo | undefined;
  /** Newest first. */
  list(filter?: RunFilter): RunId[];
  delete(id: RunRef): void;
  deleteAsync(id: RunRef): Promise<void>;
  /** Forks a run (copy-on-write): a new run whose parent is `parent` and which starts with its
   *  data as of opts.at, then diverges both ways. Returns the fork's id. */
  fork(parent: RunRef, opts?: ForkOptions): RunId;
  /** The run's committed transactions after opts.after, in commit order (a change feed):
   *  HistoryError if the retained history no longer holds them all. */
  replay(run: RunRef, opts?: ReplayOptions): Replay;
  /** Every run id under which data is stored, begun or not, ascending: a page of at most
   *  opts.limit (default 100, at most 2^20) after opts.after. */
  listStored(opts?: { after?: RunRef; limit?: number }): RunId[];
}

/** One difference of runs.diff(). */
export interface DiffEntry {
  primitive: 'kv' | 'state' | 'event' | 'trace';
  /** 'added': on side b only; 'removed': on side a only; 'changed': different contents. */
  kind: 'added' | 'removed' | 'changed';
  /** KV: the key; state: the cell's name; event: the stream's name; trace: the span id. */
  key: Buffer;
  /** state, event: the name, as a string. */
  name?: string;
  /** trace: the span id. */
  spanId?: RunId;
  /** The key's version (a stream's head) on each side; 0 where it is absent. */
  versionA: number;
  versionB: number;
  /** event: the first sequence number that differs (a stream on one side only: 1). */
  firstSeq?: number;
}
export interface DiffOptions {
  /** Side a's version (0 or absent: the newest). */
  atA?: number;
  /** Side b's version (0 or absent: the newest). */
  atB?: number;
  /** Entries fetched per call into the addon (default 256). */
  batch?: number;
}
export interface DbRuns extends Runs {
  /** Compares run a as of opts.atA with run b as of opts.atB (per primitive, in key order).
   *  HistoryError for a version the history no longer holds. */
  diff(a: RunRef, b: RunRef, opts?: DiffOptions): Diff;
  /** diff() on the thread pool: every difference. */
  diffAsync(a: RunRef, b: RunRef, opts?: DiffOptions): Promise<DiffEntry[]>;
}

export interface Event {
  seq: number; timeMs: number; type: string; payload: Buffer; prevHash: bigint; hash: bigint;
}
export interface StreamInfo { length: number; headHash: bigint; firstMs: number; lastMs: number }
export interface Events {
  append(run: RunRef, stream: string, type: string, payload: Bytes): number;
  /** At most 2^20 events a call (InvalidArgumentError beyond, or for a hole in the array). */
  appendBatch(run: RunRef, stream: string, events: { type: string; payload: Bytes }[]): number;
  get(run: RunRef, stream: string, seq: number): Event | undefined;
  /** range, rangeTime, streams: a page of at most opts.limit (default 1000, at most 2^20). */
  range(run: RunRef, stream: string,
    opts?: { from?: number; to?: number; backward?: boolean; limit?: number }): Event[];
  rangeTime(run: RunRef, stream: string,
    opts?: { fromMs?: number; toMs?: number; limit?: number }): Event[];
  info(run: RunRef, stream: string): StreamInfo;
  streams(run: RunRef, opts?: { after?: string; limit?: number }): string[];
  /** 0 if the hash chain checks, else the first broken sequence number. */
  verify(run: RunRef, stream: string): number;
  verifyAsync(run: RunRef, stream: string): Promise<number>;
}

export interface Cell { name: string; value: Buffer; version: number }
export interface State {
  get(run: RunRef, name: string): Versioned | undefined;
  /** Standalone: the commit's version; in a transaction: undefined. */
  set(run: RunRef, name: string, value: Bytes): number | undefined;
  /** expectedVersion 0: only if the cell does not exist. ConflictError on a mismatch. */
  cas(run: RunRef, name: string, expectedVersion: number, value: Bytes): number | undefined;
  /** expected null: only if the cell does not exist. ConflictError on a mismatch. */
  casValue(run: RunRef, name: string, expected: Bytes | null, value: Bytes): number | undefined;
  /** A page of at most opts.limit cells (default 1000, at most 2^20) after opts.after. */
  list(run: RunRef, opts?: { after?: string; limit?: number }): Cell[];
  /** The cell's versions, newest first (a page: see HistoryPage). */
  history(run: RunRef, name: string, opts?: HistoryPage): VersionInfo[];
}
export interface WaitOptions {
  /** Wait until the version is past this one (default 0: until it exists): the version you
   *  last saw. */
  after?: number;
  /** Give up with TimeoutError after this many ms (default: never; 0 just looks). */
  timeoutMs?: number;
  /** wait() only: reject with the signal's reason when it aborts. */
  signal?: AbortSignal;
}
export interface DbEvents extends Events {
  /** db.wait('event', run, stream, opts): resolves once the stream has an event past opts.after
   *  (its head's version). */
  wait(run: RunRef, stream: string, opts?: WaitOptions): Promise<number>;
}

export interface DbState extends State {
  /** db.wait('state', run, name, opts): resolves once the cell moves past opts.after. */
  wait(run: RunRef, name: string, opts?: WaitOptions): Promise<number>;
  /** Applies fn to the cell (undefined and 0 if missing) in a retried transaction. */
  transition(run: RunRef, name: string, fn: (cur: Buffer | undefined, version: number) => Bytes,
    opts?: RetryOptions): number;
}

export type TraceKind = 'tool_call' | 'decision' | 'query' | 'thought' | 'error' | 'custom';
export interface SpanInput {
  id?: RunRef; parent?: RunRef; kind: TraceKind; name: string; input?: Bytes; output?: Bytes;
  confidence?: number | null; startMs?: number; durationUs?: number; tags?: string[];
}
export interface Span {
  id: RunId; parent: RunId | null; kind: TraceKind; name: string; input: Buffer; output: Buffer;
  confidence: number | null; startMs: number; durationUs: number; tags: string[];
}
export interface TraceFilter {
  kind?: TraceKind; parent?: RunRef; tag?: string; fromMs?: number; toMs?: number;
  /** Cursor (the last span of the previous page) and page size (default 100, at most 2^20). */
  after?: RunRef; limit?: number;
}
export interface Traces {
  record(run: RunRef, span: SpanInput): RunId;
  get(run: RunRef, id: RunRef): Span | undefined;
  query(run: RunRef, filter?: TraceFilter): Span[];
  /** The root, then its tree depth-first: at most opts.limit spans (default 1000, at most
   *  2^20; as many as the limit: the tree may have been cut). */
  tree(run: RunRef, root: RunRef, opts?: { limit?: number }): Span[] | undefined;
}

// ---- handles ------------------------------------------------------------------------------

export class Iterator implements IterableIterator<Entry> {
  nextEntry(): Entry | undefined;
  next(): IteratorResult<Entry>;
  return(): IteratorResult<Entry>;
  free(): void;
  [Symbol.iterator](): IterableIterator<Entry>;
}

/** A run diff's differences (collected when it was made): an iterable. */
export class Diff implements IterableIterator<DiffEntry> {
  nextEntry(): DiffEntry | undefined;
  next(): IteratorResult<DiffEntry>;
  return(): IteratorResult<DiffEntry>;
  free(): void;
  [Symbol.iterator](): IterableIterator<DiffEntry>;
}

/** A run's replay: an iterable of its committed transactions, in commit order. */
export class Replay implements IterableIterator<ReplayEntry> {
  nextEntry(): ReplayEntry | undefined;
  next(): IteratorResult<ReplayEntry>;
  return(): IteratorResult<ReplayEntry>;
  free(): void;
  [Symbol.iterator](): IterableIterator<ReplayEntry>;
}

export class Transaction {
  readonly db: Database;
  readonly readOnly: boolean;
  /** 'committing' while a commitAsync() runs (the transaction's own state is not read while
   *  the thread pool commits it); another async call leaves the state it began in. */
  readonly status: 'active' | 'validating' | 'committing' | 'committed' | 'aborted' | 'freed';
  readonly runs: Runs;
  readonly events: Events;
  readonly state: State;
  readonly traces: Traces;
  get(key: Bytes, opts?: KeyOptions): Buffer | undefined;
  getEntry(key: Bytes, opts?: KeyOptions): Versioned | undefined;
  /** When the value expires (Unix ms; 0: never); undefined if the key is missing. */
  getExpiry(key: Bytes, opts?: KeyOptions): number | undefined;
  put(key: Bytes, value: Bytes, opts?: PutOptions): void;
  /** [key, value, key, value, ...]: at most 2^20 pairs a call (InvalidArgumentError beyond, or
   *  for a hole in the array). */
  putMany(pairs: Bytes[], opts?: KeyOptions): void;
  delete(key: Bytes, opts?: KeyOptions): void;
  cas(key: Bytes, expectedVersion: number, value: Bytes, opts?: KeyOptions): void;
  /** At most 2^20 keys a call (InvalidArgumentError beyond, or for a hole in the array). */
  getMany(keys: Bytes[], opts?: KeyOptions): MaybeEntry[];
  /** The key's versions this snapshot covers, newest first, as far as the retained history
   *  keeps them (a page: see HistoryPage). */
  history(key: Bytes, opts?: KeyOptions & HistoryPage): VersionInfo[];
  list(opts?: ListOptions): Entry[];
  scan(opts?: ScanOptions): Iterator;
  scanAsync(opts?: ScanAsyncOptions): Promise<Entry[]>;
  /** A deadline timeoutUs microseconds from now (0 removes it): a commit after it applies
   *  nothing and throws TimeoutError. */
  setTimeout(timeoutUs: number): void;
  /** The commit's version (0 if read-only). ConflictError (see .conflict) on a conflict. */
  commit(): number;
  commitAsync(): Promise<number>;
  abort(): void;
  free(): void;
  describe(): TxnInfo;
}

export class Database {
  readonly durability: Durability;
  /** Whether a commit that writes may wait for an fsync: durability 'strict', or
   *  maxUnsyncedCommits set in 'batched' or 'async' mode. db.transact() and InmemSaver then
   *  commit on the thread pool; the implicit writes (put, delete, cas, ...) wait on the calling
   *  thread. */
  readonly commitMayWait: boolean;
  readonly isOpen: boolean;
  readonly runs: DbRuns;
  readonly events: DbEvents;
  readonly state: DbState;
  readonly traces: Traces;
  close(): void;
  closeAsync(): Promise<void>;
  stats(): Stats;
  recovery(): RecoveryInfo;
  get(key: Bytes, opts?: KeyOptions): Buffer | undefined;
  getEntry(key: Bytes, opts?: KeyOptions): Versioned | undefined;
  getExpiry(key: Bytes, opts?: KeyOptions): number | undefined;
  /** Returns the commit's version. */
  put(key: Bytes, value: Bytes, opts?: PutOptions): number;
  delete(key: Bytes, opts?: KeyOptions): number;
  cas(key: Bytes, expectedVersion: number, value: Bytes, opts?: KeyOptions): number;
  list(opts?: ListOptions): Entry[];
  history(key: Bytes, opts?: KeyOptions & HistoryPage): VersionInfo[];
  sweep(): number;
  sweepAsync(): Promise<number>;
  /** Takes a checkpoint and waits for it; returns the version the image covers.
   *  NotSupportedError with durability 'none', ReadOnlyError on a read-only database. */
  checkpoint(): number;
  checkpointAsync(): Promise<number>;
  /** An online backup into dir (created if missing, else it must be empty); returns the
   *  version it holds: the directory opens to exactly that state. */
  backup(dir: string): number;
  backupAsync(dir: string): Promise<number>;
  /** Waits, without blocking the event loop, until the KV key, state cell or event stream
   *  `key` of `run` moves past opts.after; resolves to the version it moved to. Rejects with
   *  TimeoutError (opts.timeoutMs), ClosedError (this handle closed meanwhile) or the abort
   *  reason of opts.signal. */
  wait(what: 'kv' | 'state' | 'event', run: RunRef, key: Bytes, opts?: WaitOptions): Promise<number>;
  /** wait() blocking the calling thread; returns the version. */
  waitSync(what: 'kv' | 'state' | 'event', run: RunRef, key: Bytes, opts?: WaitOptions): number;
  /** With `at` (a version) or `atTime` (Unix ms): a read-only transaction on the state as of
   *  that commit (time travel); HistoryError if the retained history no longer reaches it. */
  begin(opts?: BeginOptions): Transaction;
  /** The wall-clock time (Unix ms) of commit `version`; HistoryError without retention. */
  versionTime(version: number): number;
  /** The newest commit made at or before timeMs (Unix ms); HistoryError without retention. */
  timeVersion(timeMs: number): number;
  transact<T>(fn: (tx: Transaction) => T | Promise<T>, opts?: TransactOptions): Promise<T>;
  transactSync<T>(fn: (tx: Transaction) => T, opts?: RetryOptions): T;
  read<T>(fn: (tx: Transaction) => T, opts?: { at?: number; atTime?: number }): T;
}

export function open(path: string | null | undefined, options?: OpenOptions): Database;
export function openAsync(path: string | null | undefined, options?: OpenOptions): Promise<Database>;
export function newRunId(): RunId;
export function isRunId(s: unknown): boolean;
export function runIdBytes(id: RunId | Buffer): Buffer;
export function formatRunId(id: RunId | Buffer): RunId;
export const version: { string: string; number: number };
export const errorCodes: Record<string, { errno: number; message: string }>;
/** Recovery's keysDropped / txnsDropped when the count is unknown (INMEM_COUNT_UNKNOWN). */
export const COUNT_UNKNOWN: number;

// ---- errors -------------------------------------------------------------------------------

export class InmemError extends Error {
  /** e.g. 'INMEM_CONFLICT' */
  code: string;
  /** e.g. -2 */
  errno: number;
  /** What the library said beyond the code (a file and offset, a lock holder...). */
  details?: string;
}
export class NotFoundError extends InmemError {}
export class ConflictError extends InmemError { conflict?: Conflict }
export class RetriesExhaustedError extends InmemError {}
export class TimeoutError extends InmemError {}
export class InvalidArgumentError extends InmemError {}
export class MisuseError extends InmemError {}
export class TransactionDoneError extends InmemError {}
export class TooBigError extends InmemError {}
export class BusyError extends InmemError {}
export class TransactionLimitError extends InmemError {}
export class OutOfMemoryError extends InmemError {}
export class NotSupportedError extends InmemError {}
export class IOError extends InmemError {}
export class CorruptError extends InmemError {}
export class VersionError extends InmemError {}
export class LockedError extends InmemError {}
export class ReadOnlyError extends InmemError {}
export class HistoryError extends InmemError {}
export class ClosedError extends InmemError {}
