'use strict';
// Durability through the binding: what was committed comes back after a close, and after the
// process is killed (SIGKILL) in the middle of a workload.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { tmpdir, inmem } = require('./helpers');

test('close and reopen: data, versions and primitives come back', (t) => {
  const dir = tmpdir(t);
  const db = inmem.open(dir);
  const run = db.runs.begin({ tags: ['kept'] });
  db.put('k', 'v', { run });
  db.events.append(run, 's', 't', 'p');
  const v = db.state.set(run, 'c', 'x');
  db.close();
  const again = inmem.open(dir);
  assert.deepEqual(again.getEntry('k', { run }), { value: Buffer.from('v'), version: 2 });
  assert.equal(again.state.get(run, 'c').version, v);
  assert.equal(again.events.verify(run, 's'), 0);
  assert.deepEqual(again.runs.get(run).tags, ['kept']);
  const r = again.recovery();
  assert.equal(r.txnsApplied, 4);
  assert.equal(r.version, 4);
  again.close();
});

test('commits that may wait for an fsync run on the thread pool in transact()', async (t) => {
  // Under strict durability, and under batched or async with maxUnsyncedCommits (a commit past
  // the cap waits for an fsync), db.transact() commits with the addon's async commit, so that
  // the event loop goes on meanwhile. It used to do so under strict only.
  const b = require('../lib/binding');
  const real = b.txnCommitAsync;
  let pooled = 0;
  b.txnCommitAsync = (...args) => { pooled++; return real(...args); };
  t.after(() => { b.txnCommitAsync = real; });
  const modes = [
    [{ durability: 'none' }, false],
    [{ durability: 'batched' }, false],
    [{ durability: 'batched', maxUnsyncedCommits: 1 }, true],
    [{ durability: 'async', maxUnsyncedCommits: 1 }, true],
    [{ durability: 'strict' }, true],
  ];
  for (const [opts, waits] of modes) {
    const db = inmem.open(opts.durability === 'none' ? undefined : tmpdir(t), opts);
    assert.equal(db.commitMayWait, waits, JSON.stringify(opts));
    pooled = 0;
    for (let i = 0; i < 3; i++) await db.transact((tx) => { tx.put('k', String(i)); });
    assert.equal(pooled, waits ? 3 : 0, JSON.stringify(opts));
    assert.deepEqual(db.get('k'), Buffer.from('2'));
    await db.transact((tx) => tx.get('k'), { readOnly: true }); // (nothing to wait for)
    assert.equal(pooled, waits ? 3 : 0, JSON.stringify(opts));
    db.close();
  }
});

test('a process killed mid-workload: every commit it reported is there after recovery', async (t) => {
  const dir = tmpdir(t);
  const script = `
    const inmem = require(${JSON.stringify(path.join(__dirname, '..'))});
    const db = inmem.open(process.argv[1]);
    let i = 0;
    (function step() {
      for (let j = 0; j < 50; j++, i++) {
        db.transactSync((tx) => { tx.put('n', String(i)); tx.put('k' + i, 'v'); });
      }
      process.stdout.write(i + '\\n'); // reported only once committed
      setImmediate(step);
    })();`;
  const child = spawn(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let reported = 0;
  await new Promise((resolve) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) reported = Math.max(reported, Number(l));
      if (reported >= 2000 && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((resolve) => child.on('exit', resolve));
  const db = inmem.open(dir);
  const n = Number(db.get('n').toString());
  assert.ok(n + 1 >= reported, `recovered ${n + 1} commits, ${reported} were reported`);
  for (let i = 0; i <= n; i += 97) assert.deepEqual(db.get('k' + i), Buffer.from('v'));
  assert.equal(db.get('k' + (n + 1)), undefined, 'nothing beyond the last recovered commit');
  db.close();
});
