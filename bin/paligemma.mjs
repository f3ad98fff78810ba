#!/usr/bin/env node
// Quiet Mesa's warning about XDG_RUNTIME_DIR before Dawn loads.
process.env.XDG_RUNTIME_DIR ??= '/tmp';
await import('../dist/node/cli.js');
