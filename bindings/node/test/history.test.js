'use strict';
// Retained history through the binding (docs/history.md): the open options, time-travel
// transactions, key and state history, forks, replay, diff, and waiting for changes.
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, tmpdir, inmem } = require('./helpers');

const S = (b) => (b === undefined ? undefined : b.toString());

/** Commits n writes to an unrelated key: the garbage collector runs every few commits. */
function churn(db, n) {
  for (let i = 0; i < n; i++) db.put('churn', String(i));
}

test('open options historyMs / historyVersions keep old versions; stats count them', (t) => {
  const { db, dir } = freshDb(t, { historyVersions: 3 });
  for (let i = 0; i < 6; i++) db.put('k', `v${i}`);
  churn(db, 20);
  const s = db.stats();
  assert.ok(s.historyBytes >= 2 * 2, `historyBytes ${s.historyBytes}: v3 and v4 are kept`);
  assert.equal(typeof s.historyFloor, 'number');
  assert.ok(s.historyFloor <= s.version);

  // Without retention nothing is kept once no transaction needs it, and the floor follows the
  // newest version (as the garbage collector runs: every few commits).
  const plain = inmem.open(null, { durability: 'none' });
  t.after(() => plain.close());
  for (let i = 0; i < 6; i++) plain.put('k', `v${i}`);
  churn(plain, 20);
  const p = plain.stats();
  assert.ok(p.historyBytes < s.historyBytes);
  assert.ok(p.historyFloor > 6 && p.historyFloor <= p.version, `floor ${p.historyFloor}`);

  // A window is an option too; a directory open in this process is shared only with the same
  // history options.
  const w = inmem.open(null, { durability: 'none', historyMs: 60000 });
  w.close();
  assert.throws(() => inmem.open(dir, { historyVersions: 4 }), inmem.InvalidArgumentError);
  const again = inmem.open(dir, { historyVersions: 3 });
  again.close();
  assert.throws(() => inmem.open(tmpdir(t), { historyMs: -1 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(tmpdir(t), { historyVersions: 2 ** 33 }), inmem.InvalidArgumentError);
  assert.throws(() => inmem.open(tmpdir(t), { historyMs: 'long' }), inmem.InvalidArgumentError);
});
