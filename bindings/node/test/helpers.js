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
  const dir = tmpdir(t);
  const db = inmem.open(dir, opts);
  t.after(() => db.close());
  return { db, dir };
}

module.exports = { tmpdir, freshDb, inmem };
