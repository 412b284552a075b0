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
