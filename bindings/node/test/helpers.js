'use strict';
// Test helpers: a fresh database directory per test, removed afterwards.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const inmem = require('..');

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inmem-node-test-'));
  if (t) t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a fresh database for test t (closed and removed after it). */
function freshDb(t, opts) {
  const dir = tmpdir();
  let db;
  try {
    db = inmem.open(dir, opts);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  // after-hooks run in the order they were added: the database is closed before its directory
  // is removed (removed first, its log thread could make a segment in it meanwhile: ENOTEMPTY)
  t.after(() => db.close());
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { db, dir };
}

module.exports = { tmpdir, freshDb, inmem };
