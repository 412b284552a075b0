'use strict';
// Loads the compiled addon (node-gyp's build/Release, or build/Debug) and registers the error
// factory. INMEM_NODE_ADDON names another file (e.g. a sanitizer build).
const path = require('path');
const errors = require('./errors');

function load() {
  const candidates = [];
  if (process.env.INMEM_NODE_ADDON) candidates.push(path.resolve(process.env.INMEM_NODE_ADDON));
  candidates.push(path.join(__dirname, '..', 'build', 'Release', 'inmem.node'));
  candidates.push(path.join(__dirname, '..', 'build', 'Debug', 'inmem.node'));
  let first;
  for (const c of candidates) {
    try {
      return require(c);
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
      first = first || e;
    }
  }
  const e = new Error('inmem: the native addon is not built (run `make node` at the top of ' +
    'the repository, or `npx node-gyp rebuild --nodedir=/usr` here)');
  e.cause = first;
  throw e;
}

const binding = load();
binding.setErrorFactory(errors.makeError);
module.exports = binding;
