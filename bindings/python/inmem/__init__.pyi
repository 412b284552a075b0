"""Type stubs of the inmem package (the C extension inmem._inmem and its Python layer)."""
import os
import uuid
from typing import (Any, Callable, Iterable, Iterator, Literal, NamedTuple, Optional, Sequence,
                    Tuple, TypeVar, Union, overload)

_T = TypeVar("_T")

Bytes = Union[bytes, bytearray, memoryview, str]
"""A key or value: bytes-like, or str (encoded as UTF-8)."""
RunLike = Union["RunId", str, bytes, uuid.UUID]
"""A run (or span) id: a RunId, its 36-character str form, 16 bytes, or a uuid.UUID."""
Durability = Literal["none", "async", "batched", "strict"]
RunStatus = Literal["active", "completed", "failed", "cancelled", "archived"]
TraceKind = Literal["tool_call", "decision", "query", "thought", "error", "custom"]
Primitive = Literal["kv", "event", "state", "trace", "run"]
WaitPrimitive = Literal["kv", "event", "state"]

LIBRARY_VERSION: str
HEADER_VERSION: str
LIBRARY_VERSION_NUMBER: int
HEADER_VERSION_NUMBER: int
NAME_MAX: int
MAX_TAGS: int
COUNT_UNKNOWN: int
SHARED: RunId
__version__: str

def strerror(code: int) -> str: ...
def errname(code: int) -> str: ...

class RunId:
    def __init__(self, value: RunLike) -> None: ...
    @classmethod
    def new(cls) -> RunId: ...
    @property
    def bytes(self) -> bytes: ...
    @property
    def hex(self) -> str: ...
    @property
    def is_shared(self) -> bool: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def uuid(self) -> uuid.UUID: ...
    def __bytes__(self) -> bytes: ...
    def __hash__(self) -> int: ...
    def __lt__(self, other: RunId) -> bool: ...
    def __le__(self, other: RunId) -> bool: ...
    def __gt__(self, other: RunId) -> bool: ...
    def __ge__(self, other: RunId) -> bool: ...

# ---- records (named tuples made in C) --------------------------------------------------------

class KVEntry(NamedTuple):
    key: bytes
    value: bytes
    version: int
    def json(self) -> Any: ...

class Cell(NamedTuple):
    value: bytes
    version: int
    def json(self) -> Any: ...

class StateEntry(NamedTuple):
    name: str
    value: bytes
    version: int
    def json(self) -> Any: ...

class Event(NamedTuple):
    seq: int
    time_ms: int
    type: str
    payload: bytes
    prev_hash: int
    hash: int
    def json(self) -> Any: ...

class StreamInfo(NamedTuple):
    length: int
    head_hash: int
    first_ms: int
    last_ms: int

class Span(NamedTuple):
    id: RunId
    parent: Optional[RunId]
    kind: TraceKind
    name: str
    input: bytes
    output: bytes
    confidence: Optional[float]
    start_ms: int
    duration_us: int
    tags: Tuple[str, ...]

class RunInfo(NamedTuple):
    id: RunId
    parent: Optional[RunId]
    status: RunStatus
    created_ms: int
    ended_ms: int
    tenant: Optional[str]
    app: Optional[str]
    agent: Optional[str]
    tags: Tuple[str, ...]

class Stats(NamedTuple):
    commits: int
    commits_readonly: int
    aborts_user: int
    aborts_read_conflict: int
    aborts_cas_conflict: int
    retries: int
    retries_exhausted: int
    deadlines_expired: int
    version: int
    keys: int
    retained_versions: int
    open_txns: int
    oldest_snapshot_version: int
    oldest_snapshot_age_us: int
    wal_bytes: int
    wal_syncs: int
    wal_synced_commits: int
    checkpoints: int
    checkpoint_failures: int
    checkpoint_version: int
    checkpoint_bytes: int
    checkpoint_time_us: int
    wal_bytes_since_checkpoint: int
    live_bytes: int
    checkpoint_error: int
    history_bytes: int
    history_floor: int
    history_ms: int
    history_versions: int
    aborts_error: int
    expired_swept: int

class RecoveryInfo(NamedTuple):
    segments: int
    bytes: int
    txns_applied: int
    txns_discarded: int
    records_skipped: int
    version: int
    txn_id: int
    time_us: int
    torn_tail: bool
    tail_file: Optional[str]
    tail_offset: int
    repaired: bool
    repair_file: Optional[str]
    repair_offset: int
    bytes_dropped: int
    txns_dropped: int
    tail_bytes: int
    live_writer: bool
    created: bool
    checkpoint_version: int
    checkpoint_file: Optional[str]
    txns_skipped: int
    checkpoint_load_us: int
    checkpoint_fallback: bool
    keys_dropped: int

class TxnInfo(NamedTuple):
    state: Literal["active", "validating", "committed", "aborted"]
    reason: Optional[Literal["user", "read_conflict", "cas_conflict", "error", "deadline"]]
    start_version: int
    commit_version: int
    read_set_size: int
    write_set_size: int
    cas_count: int
    conflict_run: Optional[RunId]
    conflict_key: Optional[bytes]
    conflict_expected: int
    conflict_found: int
    conflict_primitive: Optional[Literal["kv", "event", "state", "trace", "run"]]

class VersionInfo(NamedTuple):
    version: int
    time_ms: int
    deleted: bool
    value: Optional[bytes]
    expire_at_ms: int
    older_freed: bool
    def json(self) -> Any: ...

class Change(NamedTuple):
    primitive: Primitive
    key: Union[bytes, str, RunId, None]
    deleted: bool
    value: Optional[bytes]
    expire_at_ms: int
    event: Optional[Event]

class ReplayCommit(NamedTuple):
    version: int
    time_ms: int
    changes: Tuple[Change, ...]

class DiffEntry(NamedTuple):
    primitive: Literal["kv", "event", "state", "trace"]
    kind: Literal["added", "removed", "changed"]
    key: Union[bytes, str, RunId]
    version_a: int
    version_b: int
    first_seq: int

class Watch:
    @property
    def closed(self) -> bool: ...
    def fileno(self) -> int: ...
    def poll(self) -> Optional[int]: ...
    def wait(self, timeout: Optional[float] = None) -> Optional[int]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Watch: ...
    def __exit__(self, *exc: Any) -> Literal[False]: ...

# ---- errors -------------------------------------------------------------------------------

class Error(Exception):
    code: int
    errname: str
    detail: Optional[str]

class NotFound(Error): ...

class ConflictError(Error):
    key: Optional[bytes]
    run: Optional[RunId]
    rule: Optional[Literal["read", "cas", "value"]]
    expected: Any
    found: Optional[int]
    primitive: Optional[Literal["kv", "event", "state", "trace", "run"]]

class RetriesExhausted(ConflictError): ...
class TimeoutError(Error): ...
class InvalidArgument(Error, ValueError): ...
class MisuseError(Error): ...
class TransactionDone(MisuseError): ...
class TooBig(Error, ValueError): ...
class BusyError(Error): ...
class TransactionLimit(Error): ...
class OutOfMemory(Error, MemoryError): ...
class NotSupported(Error): ...
class DiskError(Error): ...
class CorruptError(Error): ...
class VersionError(Error): ...
class LockedError(Error): ...
class ReadOnlyError(Error): ...
class HistoryError(Error): ...
class ClosedError(Error): ...

# ---- the primitives, shared by Database (standalone) and Transaction ------------------------

class _Primitives:
    def get(self, key: Bytes, run: Optional[RunLike] = None) -> Optional[bytes]: ...
    def get_entry(self, key: Bytes, run: Optional[RunLike] = None) -> Optional[KVEntry]: ...
    def get_json(self, key: Bytes, run: Optional[RunLike] = None) -> Any: ...
    def get_many(self, keys: Iterable[Bytes],
                 run: Optional[RunLike] = None) -> list[Optional[bytes]]: ...
    def get_expiry(self, key: Bytes, run: Optional[RunLike] = None) -> Optional[int]: ...
    def list(self, prefix: Bytes = b"", run: Optional[RunLike] = None,
             after: Optional[Bytes] = None, limit: Optional[int] = None) -> Iterator[KVEntry]: ...
    def history(self, key: Bytes, run: Optional[RunLike] = None, *, before: Optional[int] = None,
                limit: Optional[int] = None) -> Iterator[VersionInfo]: ...
    # runs
    def run_begin(self, *, id: Optional[RunLike] = None, parent: Optional[RunLike] = None,
                  tenant: Optional[str] = None, app: Optional[str] = None,
                  agent: Optional[str] = None, tags: Sequence[str] = (),
                  history: Optional[bool] = None, history_ms: Optional[int] = None,
                  history_versions: Optional[int] = None) -> RunId: ...
    def run_fork(self, parent: RunLike, at_version: int = 0, *, id: Optional[RunLike] = None,
                 tenant: Optional[str] = None, app: Optional[str] = None,
                 agent: Optional[str] = None, tags: Sequence[str] = (),
                 history: Optional[bool] = None, history_ms: Optional[int] = None,
                 history_versions: Optional[int] = None) -> RunId: ...
    def run_replay(self, run: RunLike, after: int = 0) -> Iterator[ReplayCommit]: ...
    def run_end(self, run: RunLike, status: Union[RunStatus, int] = "completed") -> None: ...
    def run_get(self, run: RunLike) -> RunInfo: ...
    def run_list(self, *, status: Optional[Union[RunStatus, int]] = None, tag: Optional[str] = None,
                 parent: Optional[RunLike] = None, tenant: Optional[str] = None,
                 app: Optional[str] = None, agent: Optional[str] = None,
                 after: Optional[RunLike] = None,
                 limit: Optional[int] = None) -> Iterator[RunId]: ...
    def run_children(self, run: RunLike, after: Optional[RunLike] = None,
                     limit: Optional[int] = None) -> Iterator[RunId]: ...
    def run_list_stored(self, after: Optional[RunLike] = None,
                        limit: Optional[int] = None) -> Iterator[RunId]: ...
    def run_delete(self, run: RunLike) -> None: ...
    # events
    def event_append(self, stream: str, type: str, payload: Bytes = b"",
                     run: Optional[RunLike] = None) -> int: ...
    def event_append_json(self, stream: str, type: str, obj: Any,
                          run: Optional[RunLike] = None) -> int: ...
    def event_append_batch(self, stream: str, events: Iterable[Tuple[str, Bytes]],
                           run: Optional[RunLike] = None) -> int: ...
    def event_get(self, stream: str, seq: int, run: Optional[RunLike] = None) -> Event: ...
    def event_range(self, stream: str, from_seq: int = 1, to_seq: Optional[int] = None,
                    run: Optional[RunLike] = None, *, backward: bool = False,
                    limit: Optional[int] = None) -> Iterator[Event]: ...
    def event_range_time(self, stream: str, from_ms: int = 0, to_ms: Optional[int] = None,
                         run: Optional[RunLike] = None, *,
                         limit: Optional[int] = None) -> Iterator[Event]: ...
    def stream_info(self, stream: str, run: Optional[RunLike] = None) -> StreamInfo: ...
    def streams(self, run: Optional[RunLike] = None, after: Optional[str] = None,
                limit: Optional[int] = None) -> Iterator[str]: ...
    def event_verify(self, stream: str, run: Optional[RunLike] = None) -> int: ...
    # state cells
    def state_get(self, name: str, run: Optional[RunLike] = None) -> Optional[Cell]: ...
    def state_get_json(self, name: str, run: Optional[RunLike] = None) -> Any: ...
    def state_list(self, run: Optional[RunLike] = None, after: Optional[str] = None,
                   limit: Optional[int] = None) -> Iterator[StateEntry]: ...
    def state_history(self, name: str, run: Optional[RunLike] = None, *,
                      before: Optional[int] = None,
                      limit: Optional[int] = None) -> Iterator[VersionInfo]: ...
    # traces
    def trace_record(self, kind: Union[TraceKind, int], name: str,
                     run: Optional[RunLike] = None, *, input: Bytes = b"", output: Bytes = b"",
                     parent: Optional[RunLike] = None, confidence: Optional[float] = None,
                     start_ms: int = 0, duration_us: int = 0, tags: Sequence[str] = (),
                     id: Optional[RunLike] = None) -> RunId: ...
    def trace_get(self, span: RunLike, run: Optional[RunLike] = None) -> Span: ...
    def trace_query(self, run: Optional[RunLike] = None, *,
                    kind: Optional[Union[TraceKind, int]] = None,
                    parent: Optional[RunLike] = None, tag: Optional[str] = None,
                    from_ms: int = 0, to_ms: Optional[int] = None,
                    after: Optional[RunLike] = None,
                    limit: Optional[int] = None) -> Iterator[Span]: ...
    def trace_tree(self, root: RunLike, run: Optional[RunLike] = None,
                   limit: Optional[int] = None) -> list[Span]: ...

class Transaction(_Primitives):
    @property
    def state(self) -> Literal["active", "committed", "aborted", "ended"]: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def database(self) -> Database: ...
    def set_timeout(self, seconds: float, /) -> None: ...
    def commit(self) -> int: ...
    def abort(self) -> None: ...
    def info(self) -> TxnInfo: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(self, *exc: Any) -> Literal[False]: ...
    def put(self, key: Bytes, value: Bytes, run: Optional[RunLike] = None, *,
            ttl: Optional[float] = None, expire_at_ms: Optional[int] = None) -> None: ...
    def put_json(self, key: Bytes, obj: Any, run: Optional[RunLike] = None, *,
                 ttl: Optional[float] = None, expire_at_ms: Optional[int] = None) -> None: ...
    def delete(self, key: Bytes, run: Optional[RunLike] = None) -> None: ...
    def cas(self, key: Bytes, expected_version: int, value: Bytes,
            run: Optional[RunLike] = None) -> None: ...
    def scan(self, start: Optional[Bytes] = None, end: Optional[Bytes] = None,
             run: Optional[RunLike] = None) -> Iterator[KVEntry]: ...
    def scan_prefix(self, prefix: Bytes = b"",
                    run: Optional[RunLike] = None) -> Iterator[KVEntry]: ...
    def state_set(self, name: str, value: Bytes, run: Optional[RunLike] = None) -> None: ...
    def state_set_json(self, name: str, obj: Any, run: Optional[RunLike] = None) -> None: ...
    def state_cas(self, name: str, expected_version: int, value: Bytes,
                  run: Optional[RunLike] = None) -> None: ...
    def state_cas_value(self, name: str, expected: Optional[Bytes], value: Bytes,
                        run: Optional[RunLike] = None) -> None: ...

class Database(_Primitives):
    def __init__(self, path: Union[str, os.PathLike[str], None] = None, *,
                 durability: Durability = "batched", max_key_size: int = 4096,
                 max_value_size: int = 16 << 20, max_txns: int = 256,
                 wal_segment_size: int = 64 << 20, sync_interval_ms: int = 100,
                 sync_commits: int = 1000, repair: bool = False,
                 ttl_sweep_interval_ms: int = 1000, read_only: bool = False,
                 create_if_missing: bool = True, file_mode: int = 0o600,
                 max_unsynced_commits: int = 0, checkpoint_log_ratio: int = 4,
                 checkpoint_log_min: int = 16 << 20,
                 checkpoint_on_close: bool = False, history_ms: int = 0,
                 history_versions: int = 0) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def path(self) -> Optional[str]: ...
    @property
    def durability(self) -> Durability: ...
    @property
    def read_only(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Database: ...
    def __exit__(self, *exc: Any) -> Literal[False]: ...
    def put(self, key: Bytes, value: Bytes, run: Optional[RunLike] = None, *,
            ttl: Optional[float] = None, expire_at_ms: Optional[int] = None) -> int: ...
    def put_json(self, key: Bytes, obj: Any, run: Optional[RunLike] = None, *,
                 ttl: Optional[float] = None, expire_at_ms: Optional[int] = None) -> int: ...
    def delete(self, key: Bytes, run: Optional[RunLike] = None) -> int: ...
    def cas(self, key: Bytes, expected_version: int, value: Bytes,
            run: Optional[RunLike] = None) -> int: ...
    def state_set(self, name: str, value: Bytes, run: Optional[RunLike] = None) -> int: ...
    def state_set_json(self, name: str, obj: Any, run: Optional[RunLike] = None) -> int: ...
    def state_cas(self, name: str, expected_version: int, value: Bytes,
                  run: Optional[RunLike] = None) -> int: ...
    def state_cas_value(self, name: str, expected: Optional[Bytes], value: Bytes,
                        run: Optional[RunLike] = None) -> int: ...
    def state_transition(self, name: str, fn: Callable[[Optional[bytes], int], Bytes],
                         run: Optional[RunLike] = None, *, max_attempts: int = 10,
                         timeout: Optional[float] = None, backoff_initial: Optional[float] = None,
                         backoff_max: Optional[float] = None) -> int: ...
    def state_transition_json(self, name: str, fn: Callable[[Any, int], Any],
                              run: Optional[RunLike] = None, **retry: Any) -> int: ...
    def transaction(self, readonly: bool = False, *, at_version: Optional[int] = None,
                    at_time_ms: Optional[int] = None,
                    timeout: Optional[float] = None) -> Transaction: ...
    def transact(self, fn: Callable[[Transaction], _T], *, max_attempts: int = 10,
                 timeout: Optional[float] = None, backoff_initial: Optional[float] = None,
                 backoff_max: Optional[float] = None) -> _T: ...
    @overload
    def transactional(self, fn: Callable[..., _T]) -> Callable[..., _T]: ...
    @overload
    def transactional(self, fn: None = None, *, max_attempts: int = 10,
                      timeout: Optional[float] = None, backoff_initial: Optional[float] = None,
                      backoff_max: Optional[float] = None
                      ) -> Callable[[Callable[..., _T]], Callable[..., _T]]: ...
    def scan(self, start: Optional[Bytes] = None, end: Optional[Bytes] = None,
             run: Optional[RunLike] = None) -> Iterator[KVEntry]: ...
    def scan_prefix(self, prefix: Bytes = b"",
                    run: Optional[RunLike] = None) -> Iterator[KVEntry]: ...
    def stats(self) -> Stats: ...
    def recovery(self) -> RecoveryInfo: ...
    def sweep(self) -> int: ...
    def checkpoint(self) -> int: ...
    def backup(self, path: Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]) -> int: ...
    # history (docs/history.md)
    def version_time(self, version: int) -> int: ...
    def time_version(self, time_ms: int) -> int: ...
    def run_diff(self, a: RunLike, b: RunLike, *, at_a: int = 0,
                 at_b: int = 0) -> Iterator[DiffEntry]: ...
    def wait(self, key: Bytes, run: Optional[RunLike] = None, *,
             primitive: Union[WaitPrimitive, int] = "kv", after: int = 0,
             timeout: Optional[float] = None) -> Optional[int]: ...
    def watch(self, key: Bytes, run: Optional[RunLike] = None, *,
              primitive: Union[WaitPrimitive, int] = "kv", after: int = 0) -> Watch: ...

def open(path: Union[str, os.PathLike[str], None] = None, durability: Durability = "batched",
         **options: Any) -> Database: ...
