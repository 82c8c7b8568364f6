#!/usr/bin/env node
'use strict';
// Cost of one synchronous call on a tiny array (issue 11, SPEC §7's
// "under 2 microseconds more than the work"): arelu.forward and
// arelu.backward on N elements (default 16) with scalar parameters and a
// preallocated out, 50,000 warm-up calls, then 40 interleaved rounds of
// 5,000 calls; prints the minimum and the median per call.
//   node bench/call-cost.js [N] [PACKAGE_DIR]   (PACKAGE_DIR: another build to compare)
const path = require('path');
const arelu = require(path.resolve(process.argv[3] || path.join(__dirname, '..')));

const n = Number(process.argv[2]) || 16;
const x = new Float32Array(n).map(() => Math.random() - 0.5), g = x.map(() => Math.random() - 0.5);
const out = new Float32Array(n), y = new Float32Array(n);
const p = { alpha: 0.9, beta: 2 }, fopts = { out: y }, bopts = { out };
const fns = { forward: () => arelu.forward(x, p, fopts), backward: () => arelu.backward(x, g, p, bopts) };
const res = {};
for (const k of Object.keys(fns)) {
  res[k] = [];
  for (let i = 0; i < 50000; i++) fns[k]();
}
for (let r = 0; r < 40; r++)
  for (const k of Object.keys(fns)) {
    const f = fns[k], calls = 5000, t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) f();
    res[k].push(Number(process.hrtime.bigint() - t0) / calls);
  }
const parts = Object.keys(fns).map((k) => {
  const v = res[k].sort((a, b) => a - b);
  return `${k} min ${v[0].toFixed(0)} ns, median ${v[v.length >> 1].toFixed(0)} ns`;
});
console.log(`${n} elements: ${parts.join('; ')}`);
