// vitest runs LangGraph's checkpointer validation suite and InmemSaver's specs beside it
// (langgraph/test/*.spec.mjs) only; the binding's own tests run under node --test
// (test/*.test.js).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['langgraph/test/**/*.spec.mjs'],
    globals: true,
    testTimeout: 60000,
    hookTimeout: 60000,
  },
});
