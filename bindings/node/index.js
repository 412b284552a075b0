'use strict';
// inmem for Node.js: see index.d.ts for the API and docs/node.md for the guide.
const inmem = require('./lib/inmem');
const errors = require('./lib/errors');

module.exports = {
  ...inmem,
  InmemError: errors.InmemError,
  NotFoundError: errors.NotFoundError,
  ConflictError: errors.ConflictError,
  RetriesExhaustedError: errors.RetriesExhaustedError,
  TimeoutError: errors.TimeoutError,
  InvalidArgumentError: errors.InvalidArgumentError,
  MisuseError: errors.MisuseError,
  TransactionDoneError: errors.TransactionDoneError,
  TooBigError: errors.TooBigError,
  BusyError: errors.BusyError,
  TransactionLimitError: errors.TransactionLimitError,
  OutOfMemoryError: errors.OutOfMemoryError,
  NotSupportedError: errors.NotSupportedError,
  IOError: errors.IOError,
  CorruptError: errors.CorruptError,
  VersionError: errors.VersionError,
  LockedError: errors.LockedError,
  ReadOnlyError: errors.ReadOnlyError,
  HistoryError: errors.HistoryError,
  ClosedError: errors.ClosedError,
};
