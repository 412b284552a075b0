// A LangGraph.js agent whose state lives in inmem (InmemSaver): a model node that asks for a
// tool, a human review that interrupts the graph before the tool runs, resumption, the state
// history, and time travel back to an earlier checkpoint to take the other branch. The chat
// model is scripted, so this runs offline; `make test-node` runs it and it checks itself.
//
//   node example/agent-graph.mjs [directory]      (default: a fresh temporary directory)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { AIMessage, HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { StateGraph, MessagesAnnotation, START, END, interrupt, Command } from '@langchain/langgraph';
import { ToolNode } from '@langchain/langgraph/prebuilt';
import { z } from 'zod';
import { InmemSaver } from '../langgraph/index.mjs';

// A chat model that answers from a script: asked about the weather, it calls the tool; given a
// tool result, it reports it; told the tool was refused, it apologises.
class ScriptedChatModel {
  async invoke(messages) {
    const last = messages[messages.length - 1];
    if (last.getType() === 'tool') {
      return new AIMessage(`The forecast for Paris: ${last.content}.`);
    }
    if (last.getType() === 'human' && /refused/.test(last.content)) {
      return new AIMessage('Understood, I will not look it up.');
    }
    return new AIMessage({
      content: '',
      tool_calls: [{ id: 'call-1', name: 'weather', args: { city: 'Paris' } }],
    });
  }
}

const weather = tool(async ({ city }) => (city === 'Paris' ? 'sunny, 24°C' : 'unknown'), {
  name: 'weather',
  description: 'The weather forecast for a city',
  schema: z.object({ city: z.string() }),
});

const model = new ScriptedChatModel();

function buildGraph(checkpointer) {
  return new StateGraph(MessagesAnnotation)
    .addNode('agent', async (state) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('review', (state) => {
      const call = state.messages[state.messages.length - 1].tool_calls[0];
      // Stops the graph here; resumed by Command({ resume: answer }).
      const answer = interrupt({ question: `Run ${call.name}(${JSON.stringify(call.args)})?` });
      if (answer === 'approve') return new Command({ goto: 'tools' });
      return new Command({ goto: 'agent', update: { messages: [new HumanMessage('The tool call was refused.')] } });
    }, { ends: ['tools', 'agent'] })
    .addNode('tools', new ToolNode([weather]))
    .addEdge(START, 'agent')
    .addConditionalEdges('agent', (state) =>
      state.messages[state.messages.length - 1].tool_calls?.length ? 'review' : END)
    .addEdge('tools', 'agent')
    .compile({ checkpointer });
}

const dir = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'inmem-agent-graph-'));
const cleanup = process.argv[2] === undefined;
const config = { configurable: { thread_id: 'trip-planning' } };

try {
  let saver = new InmemSaver({ path: dir });
  let graph = buildGraph(saver);

  // 1. Run until the human review interrupts.
  await graph.invoke({ messages: [new HumanMessage('What is the weather in Paris?')] }, config);
  let state = await graph.getState(config);
  assert.deepEqual(state.next, ['review']);
  const question = state.tasks[0].interrupts[0].value.question;
  console.log(`interrupted: ${question}`);

  // 2. The process may stop here: reopen the database and resume from what it stored.
  saver.close();
  saver = new InmemSaver({ path: dir });
  graph = buildGraph(saver);
  const out = await graph.invoke(new Command({ resume: 'approve' }), config);
  const answer = out.messages[out.messages.length - 1].content;
  console.log(`resumed, approved: ${answer}`);
  assert.equal(answer, 'The forecast for Paris: sunny, 24°C.');

  // 3. The history: every checkpoint of the thread, newest first.
  const history = [];
  for await (const snap of graph.getStateHistory(config)) history.push(snap);
  console.log(`history: ${history.length} checkpoints: ` +
    history.map((s) => `${s.metadata.step}:${s.next.join('+') || 'end'}`).join(' '));
  assert.ok(history.length >= 5);

  // 4. Time travel: replay from the checkpoint before the model's first answer (a new branch
  //    forks from it), and refuse the tool this time.
  const beforeModel = history.find((s) => s.metadata.step === 0 && s.next[0] === 'agent');
  assert.ok(beforeModel, 'the checkpoint before the model ran');
  await graph.invoke(null, beforeModel.config);
  state = await graph.getState(config);
  assert.deepEqual(state.next, ['review'], 'the replayed branch stops at the review again');
  // Its ancestry leads back to the chosen checkpoint.
  let ancestor = state;
  const target = beforeModel.config.configurable.checkpoint_id;
  for (let i = 0; i < 10 && ancestor.parentConfig &&
    ancestor.config.configurable.checkpoint_id !== target; i++) {
    ancestor = await graph.getState(ancestor.parentConfig);
  }
  assert.equal(ancestor.config.configurable.checkpoint_id, target,
    'the branch forks from the chosen checkpoint');
  const forked = await graph.invoke(new Command({ resume: 'refuse' }), config);
  const other = forked.messages[forked.messages.length - 1].content;
  console.log(`time travel to step ${beforeModel.metadata.step}, refused: ${other}`);
  assert.equal(other, 'Understood, I will not look it up.');

  // The thread's latest state is now the refused branch; the approved one is still in history.
  const latest = await graph.getState(config);
  assert.equal(latest.values.messages[latest.values.messages.length - 1].content, other);
  let approvedStillThere = false;
  for await (const snap of graph.getStateHistory(config)) {
    const msgs = snap.values.messages ?? [];
    if (msgs.length && msgs[msgs.length - 1].content === answer) approvedStillThere = true;
  }
  assert.ok(approvedStillThere, 'the approved branch is kept in the history');

  // 5. Deleting the thread erases it.
  await saver.deleteThread('trip-planning');
  assert.equal(await saver.getTuple(config), undefined);
  console.log('thread deleted');
  saver.close();
  console.log('agent-graph example: ok');
} finally {
  if (cleanup) fs.rmSync(dir, { recursive: true, force: true });
}
