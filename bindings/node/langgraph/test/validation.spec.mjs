// LangGraph's own checkpointer conformance suite, run against InmemSaver: each test group gets a
// fresh database in a temporary directory (batched durability, the default), removed after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validate } from '@langchain/langgraph-checkpoint-validation';
import { InmemSaver } from '../index.mjs';

const dirs = new Map();

validate({
  checkpointerName: 'InmemSaver',
  createCheckpointer() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inmem-langgraph-validate-'));
    const saver = new InmemSaver({ path: dir });
    dirs.set(saver, dir);
    return saver;
  },
  destroyCheckpointer(saver) {
    saver.close();
    fs.rmSync(dirs.get(saver), { recursive: true, force: true });
    dirs.delete(saver);
  },
});
