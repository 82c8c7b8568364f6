#!/usr/bin/env node
'use strict';
// Per-call cost of per-channel parameters at a small layer size (issue 11):
// 16K elements, C = 64 channels, NCHW ([1, 64, 32, 8], axis 1) or NHWC
// ([1, 32, 8, 64], axis 3), against the same call with scalar parameters,
// 1 thread, preallocated output, 20,000 calls per timing, two timings each.
//   node bench/per-channel-calls.js [nchw|nhwc] [fwd|bwd]
const arelu = require('..');

arelu.setNumThreads(1);
const n = 16384, C = 64;
const x = new Float32Array(n).map((_, i) => Math.sin(i * 0.37)), out = new Float32Array(n), dy = x.map((v) => v * 0.5);
const p = { alpha: new Float32Array(C).fill(0.5), beta: new Float32Array(C).fill(1) };
const mode = process.argv[2] || 'nchw', op = process.argv[3] || 'bwd';
const o = mode === 'nchw' ? { out, shape: [1, C, 32, 8], channelAxis: 1 } : { out, shape: [1, 32, 8, C], channelAxis: 3 };
const perChannel = op === 'fwd' ? () => arelu.forward(x, p, o) : () => arelu.backward(x, dy, p, o);
const uniform = op === 'fwd' ? () => arelu.forward(x, { alpha: 0.5, beta: 1 }, { out }) : () => arelu.backward(x, dy, { alpha: 0.5, beta: 1 }, { out });
for (const [name, f] of [['per-channel', perChannel], ['uniform', uniform], ['per-channel', perChannel], ['uniform', uniform]]) {
  const reps = 20000, t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) f();
  console.log(`${mode} ${op} ${name.padEnd(11)} ${(Number(process.hrtime.bigint() - t0) / reps / 1000).toFixed(2)} us per call`);
}
arelu.setNumThreads(require('os').availableParallelism());
