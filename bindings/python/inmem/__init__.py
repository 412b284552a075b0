"""inmem: an embedded, in-memory, durable, transactional state store for AI agents.

This package is the Python binding of the inmem C library (a CPython extension written against
its public header). Open a database, then use its primitives -- KV memory, event streams, state
cells, traces, runs -- standalone or inside transactions::

    import inmem

    with inmem.open("agent-state") as db:            # a directory; durability="batched"
        run = db.run_begin(agent="planner")
        db.put("goal", "book a flight", run=run)       # implicit one-operation transaction

        with db.transaction() as tx:                   # commits at the end of the block
            if tx.get("goal", run=run) is not None:
                tx.cas("lock", 0, "me")                # 0: only if absent, checked at commit

        @db.transactional(max_attempts=20)             # retried on conflict
        def bump(tx, key):
            n = int(tx.get(key) or 0) + 1
            tx.put(key, str(n))
            return n

        bump("counter")

Transactions are snapshot isolation, first committer wins: a commit raises ConflictError (with
the key and the rule that failed) if a key the transaction read or CAS-checked changed since its
snapshot. See docs/python.md for the guide and help(inmem.Database) for the reference.
"""
import functools as _functools
import json as _json

from . import _inmem
from ._inmem import (
    HEADER_VERSION,
    HEADER_VERSION_NUMBER,
    LIBRARY_VERSION,
    LIBRARY_VERSION_NUMBER,
    COUNT_UNKNOWN,
    MAX_TAGS,
    NAME_MAX,
    SHARED,
    BusyError,
    Cell,
    Change,
    ClosedError,
    ConflictError,
    CorruptError,
    DiffEntry,
    DiskError,
    Error,
    Event,
    HistoryError,
    InvalidArgument,
    KVEntry,
    LockedError,
    MisuseError,
    NotFound,
    NotSupported,
    OutOfMemory,
    ReadOnlyError,
    RecoveryInfo,
    ReplayCommit,
    RetriesExhausted,
    RunId,
    RunInfo,
    Span,
    StateEntry,
    Stats,
    StreamInfo,
    TimeoutError,
    TooBig,
    Transaction,
    TransactionDone,
    TransactionLimit,
    TxnInfo,
    VersionError,
    VersionInfo,
    Watch,
    errname,
    strerror,
)

__version__ = LIBRARY_VERSION

__all__ = [
    "open", "Database", "Transaction", "RunId", "SHARED",
    "KVEntry", "Cell", "StateEntry", "Event", "StreamInfo", "Span", "RunInfo", "Stats",
    "RecoveryInfo", "TxnInfo", "VersionInfo", "Change", "ReplayCommit", "DiffEntry", "Watch",
    "Error", "NotFound", "ConflictError", "RetriesExhausted", "TimeoutError", "InvalidArgument",
    "MisuseError", "TransactionDone", "TooBig", "BusyError", "TransactionLimit", "OutOfMemory",
    "NotSupported", "DiskError", "CorruptError", "VersionError", "LockedError", "ReadOnlyError",
    "HistoryError", "ClosedError", "strerror", "errname", "NAME_MAX", "MAX_TAGS", "COUNT_UNKNOWN",
    "LIBRARY_VERSION", "HEADER_VERSION", "LIBRARY_VERSION_NUMBER", "HEADER_VERSION_NUMBER",
]


class Database(_inmem.Database):
    __doc__ = _inmem.Database.__doc__
    __slots__ = ()

    def transactional(self, fn=None, *, max_attempts=10, timeout=None, backoff_initial=None,
                      backoff_max=None):
        """Decorator: run the function in a closure transaction, retried on conflict.

        The decorated function takes the transaction as its first argument; calling it with the
        other arguments runs ``db.transact(lambda tx: fn(tx, *args, **kwargs), ...)`` and
        returns its result::

            @db.transactional(max_attempts=20, timeout=1.0)
            def claim(tx, task):
                ...

            claim("task-7")

        Usable bare (``@db.transactional``) or with the retry options of transact().
        """
        def wrap(f):
            @_functools.wraps(f)
            def run(*args, **kwargs):
                return self.transact(lambda tx: f(tx, *args, **kwargs),
                                     max_attempts=max_attempts, timeout=timeout,
                                     backoff_initial=backoff_initial, backoff_max=backoff_max)
            return run
        return wrap(fn) if fn is not None else wrap

    def state_transition_json(self, name, fn, run=None, **retry):
        """state_transition() on JSON values: fn(obj, version) -> next obj, where obj is the
        decoded current value (None if the cell does not exist). Returns the commit's version."""
        def step(cur, version):
            return _json.dumps(fn(None if cur is None else _json.loads(cur), version),
                               separators=(",", ":"), ensure_ascii=False)
        return self.state_transition(name, step, run, **retry)


def open(path=None, durability="batched", **options):  # noqa: A001 (inmem.open, like dbm.open)
    """Opens (creating if needed) the database in directory ``path`` and returns a Database.

    durability: "none" (pure in-memory, no files: path may be None), "async", "batched" (the
    default: fsync every sync_interval_ms or sync_commits commits) or "strict" (a commit returns
    once it is on stable storage). Other options, with the library's defaults: max_key_size
    (4096), max_value_size (16 MiB), max_txns (256), wal_segment_size (64 MiB),
    sync_interval_ms (100), sync_commits (1000), max_unsynced_commits (0: no cap), repair
    (False), ttl_sweep_interval_ms (1000), read_only (False: True inspects a directory, even one
    another process has open, changing no file), create_if_missing (True), file_mode (0o600),
    checkpoint_log_ratio (4: a background checkpoint once the log has grown by 4 times the live
    data since the last; 0: only ``db.checkpoint()``), checkpoint_log_min (16 MiB: never for less
    log than this), checkpoint_on_close (False: True takes one at a clean close, so that the next
    open loads the image instead of replaying the log), history_ms and history_versions (0 and
    0: no history; keep every version replaced less than history_ms ago, and at least the
    history_versions newest of every key, for time-travel reads with
    ``db.transaction(at_version=...)``, key history, replay and diff; docs/history.md).
    Recovery loads the newest checkpoint image and replays the log after it at open;
    ``db.recovery()`` reports what it did.
    Use the result as a context manager to close it at the end of a block.
    """
    return Database(path, durability=durability, **options)
