#!/usr/bin/env node
'use strict';
// The embedded engine runs queries and inserts on libuv's thread pool, whose
// default of 4 threads would also starve file I/O under query load. The pool
// is sized when first used, so set it before anything else runs. (CommonJS,
// so that loading this file does not itself touch the pool.)
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
import('../dist/src/cli/index.js').then(
  ({ main }) => main(process.argv.slice(2)).then((code) => process.exit(code)),
  (err) => {
    console.error('sightline: cannot load the build; run `npm run build` first.', err && err.message);
    process.exit(1);
  },
);
