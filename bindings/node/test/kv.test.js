'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshDb, inmem } = require('./helpers');

test('implicit put, get, getEntry, delete and versions', (t) => {
  const { db } = freshDb(t);
  const v1 = db.put('k', 'one');
  assert.equal(v1, 1);
  assert.deepEqual(db.get('k'), Buffer.from('one'));
  assert.deepEqual(db.getEntry('k'), { value: Buffer.from('one'), version: 1 });
  const v2 = db.put(Buffer.from('k'), new Uint8Array([1, 2, 3]));
  assert.equal(v2, 2);
  assert.deepEqual(db.get('k'), Buffer.from([1, 2, 3]));
  assert.equal(db.delete('k'), 3);
  assert.equal(db.get('k'), undefined);
  assert.equal(db.getEntry('missing'), undefined);
});
