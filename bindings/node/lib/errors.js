'use strict';
// InmemError and one subclass per inmem error code. The addon creates every error through
// makeError(), so `err instanceof ConflictError` and `err.code === 'INMEM_CONFLICT'` both work.

// The fields are defined, not assigned: an assignment runs a setter of that name inherited from
// Object.prototype (user code), and the addon makes errors while it still holds memory
// borrowed from a transaction (a scan, a record) that such code could free by closing the
// database.
const { defineProperty, hasOwn } = Object;
function setField(o, name, value) {
  defineProperty(o, name, { value, writable: true, enumerable: true, configurable: true });
}

class InmemError extends Error {
  constructor(message, code, errno, details) {
    super(message);
    setField(this, 'name', new.target.name);
    /** The constant's name, e.g. 'INMEM_CONFLICT'. */
    setField(this, 'code', code);
    /** The library's negative error number, e.g. -2. */
    setField(this, 'errno', errno);
    /** What the library said beyond the code (a file and offset, a lock holder...), if any. */
    if (details !== undefined) setField(this, 'details', details);
  }
}

class NotFoundError extends InmemError {}
/** A key read or CAS-checked changed since the snapshot; `conflict` tells which and how. */
class ConflictError extends InmemError {}
class RetriesExhaustedError extends InmemError {}
class TimeoutError extends InmemError {}
/** A bad argument: wrong type, out of range, not a run id... */
class InvalidArgumentError extends InmemError {}
/** A call the object's state does not allow: a freed transaction, a closed database... */
class MisuseError extends InmemError {}
class TransactionDoneError extends InmemError {}
class TooBigError extends InmemError {}
class BusyError extends InmemError {}
class TransactionLimitError extends InmemError {}
class OutOfMemoryError extends InmemError {}
class NotSupportedError extends InmemError {}
class IOError extends InmemError {}
class CorruptError extends InmemError {}
class VersionError extends InmemError {}
class LockedError extends InmemError {}
class ReadOnlyError extends InmemError {}
/** A version or time outside the retained history (docs/history.md). */
class HistoryError extends InmemError {}
/** The database was closed while a call waited on it. */
class ClosedError extends InmemError {}

const byCode = {
  INMEM_NOTFOUND: NotFoundError,
  INMEM_CONFLICT: ConflictError,
  INMEM_ERETRIES: RetriesExhaustedError,
  INMEM_ETIMEDOUT: TimeoutError,
  INMEM_EINVAL: InvalidArgumentError,
  INMEM_EMISUSE: MisuseError,
  INMEM_ETXNDONE: TransactionDoneError,
  INMEM_ETOOBIG: TooBigError,
  INMEM_EBUSY: BusyError,
  INMEM_ETXNLIMIT: TransactionLimitError,
  INMEM_ENOMEM: OutOfMemoryError,
  INMEM_ENOTSUP: NotSupportedError,
  INMEM_EIO: IOError,
  INMEM_ECORRUPT: CorruptError,
  INMEM_EVERSION: VersionError,
  INMEM_ELOCKED: LockedError,
  INMEM_EREADONLY: ReadOnlyError,
  INMEM_EHISTORY: HistoryError,
  INMEM_ECLOSED: ClosedError,
};

/** Called by the addon: (errno, code, message, details, extra) => error. */
function makeError(errno, code, message, details, extra) {
  const C = (hasOwn(byCode, code) && byCode[code]) || InmemError;
  const e = new C(message, code, errno, details);
  if (extra !== undefined) setField(e, 'conflict', extra);
  return e;
}

/** An error of @p code made in JS (the retry loop's give-ups, JS-side argument checks). */
function errorOf(code, message, errnos) {
  const info = errnos[code];
  return makeError(info.errno, code, message || info.message);
}

module.exports = {
  InmemError, NotFoundError, ConflictError, RetriesExhaustedError, TimeoutError,
  InvalidArgumentError, MisuseError, TransactionDoneError, TooBigError, BusyError,
  TransactionLimitError, OutOfMemoryError, NotSupportedError, IOError, CorruptError,
  VersionError, LockedError, ReadOnlyError, HistoryError, ClosedError, byCode, makeError, errorOf,
};
