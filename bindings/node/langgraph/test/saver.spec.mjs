// InmemSaver beside LangGraph's validation suite: savers over one database with different
// namespaces (the default '' among them) see only their own threads, in list() as in
// getTuple(); list() takes the limits MemorySaver takes.
import { emptyCheckpoint } from '@langchain/langgraph-checkpoint';
import inmem from '../../index.js';
import { InmemSaver } from '../index.mjs';

const meta = { source: 'input', step: -1, parents: {} };

async function threadsListed(saver) {
  const seen = [];
  for await (const t of saver.list({ configurable: {} })) seen.push(t.config.configurable.thread_id);
  return seen.sort();
}

describe('InmemSaver namespaces', () => {
  it('list() without a thread lists only the saver\'s own namespace, the default one too', async () => {
    const db = inmem.open(null, { durability: 'none' });
    try {
      const a = new InmemSaver({ db, namespace: 'tenantA' });
      const dflt = new InmemSaver({ db });
      const cp = (n) => ({ ...emptyCheckpoint(), id: `1ef00000-0000-6000-8000-00000000000${n}` });
      await a.put({ configurable: { thread_id: 'secret-thread', checkpoint_ns: '' } }, cp(1), meta, {});
      await dflt.put({ configurable: { thread_id: 'mine', checkpoint_ns: '' } }, cp(2), meta, {});
      expect(await threadsListed(dflt)).toEqual(['mine']);
      expect(await threadsListed(a)).toEqual(['secret-thread']);
      // What list() shows, getTuple() reads; what it hides, getTuple() does not find either.
      expect(await dflt.getTuple({ configurable: { thread_id: 'mine' } })).toBeDefined();
      expect(await dflt.getTuple({ configurable: { thread_id: 'secret-thread' } })).toBeUndefined();
    } finally {
      db.close();
    }
  });
});

describe('InmemSaver list() limits', () => {
  it('a limit that is not an integer is counted as MemorySaver counts it', async () => {
    const { MemorySaver } = await import('@langchain/langgraph-checkpoint');
    const got = [];
    for (const saver of [new InmemSaver({ durability: 'none' }), new MemorySaver()]) {
      for (let i = 1; i <= 4; i++) {
        const cp = { ...emptyCheckpoint(), id: `1ef00000-0000-6000-8000-00000000000${i}` };
        await saver.put({ configurable: { thread_id: 't', checkpoint_ns: '' } }, cp,
          { source: 'loop', step: i, parents: {} }, {});
      }
      const steps = [];
      for await (const t of saver.list({ configurable: { thread_id: 't' } }, { limit: 2.5 })) {
        steps.push(t.metadata.step);
      }
      got.push(steps);
      saver.close?.();
    }
    expect(got[0]).toEqual([4, 3, 2]);
    expect(got[0]).toEqual(got[1]);
  });
});
