'use strict';
// Timing helpers of the GPU benchmarks (bench/gpu-bench.js,
// bench/gpu-plans.js): batches of calls timed on the host clock or
// with CUDA events, and random data without zeros.
const { native } = require('../../dist/native');

const median = (a) => { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const now = () => Number(process.hrtime.bigint()) / 1e9;

// Median seconds per call of fn over reps batches of calls, each batch
// closed by sync(); one warm-up batch first.
function timeBatch(fn, sync, reps, calls) {
  fn(); sync();
  const per = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let c = 0; c < calls; c++) fn();
    sync();
    per.push((now() - t0) / calls);
  }
  return { median: median(per), min: Math.min(...per), max: Math.max(...per) };
}

// Median seconds per call from CUDA events recorded before and after each
// batch of queued calls (the GPU's own clock; one warm-up batch first).
function timeEvents(fn, reps, calls) {
  fn();
  native.cuda.synchronize(0);
  const per = [];
  for (let r = 0; r < reps; r++) {
    const a = native.cuda.eventRecord(0);
    for (let c = 0; c < calls; c++) fn();
    const b = native.cuda.eventRecord(0);
    per.push(native.cuda.eventElapsed(a, b) / 1e3 / calls);
  }
  native.cuda.synchronize(0);
  return { median: median(per), min: Math.min(...per), max: Math.max(...per) };
}

// Random data without zeros (METHOD.md: zeros hide bugs and time
// differently): 16M random values, then tiled by doubling copies.
function fillRandom(a) {
  let s = 0x9e3779b9 >>> 0;
  const m = Math.min(a.length, 2 ** 24);
  for (let i = 0; i < m; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 8 - 4 + 1e-3;
  }
  for (let k = m; k < a.length; k *= 2) a.copyWithin(k, 0, Math.min(k, a.length - k));
  return a;
}

// x, dy (x reversed) and an output of n elements on the GPU, from random data.
function deviceBuffers(arelu, n) {
  const host = fillRandom(new Float32Array(n));
  const xd = arelu.cuda.upload(host);
  const gd = arelu.cuda.upload(host.reverse());
  return [xd, gd, arelu.cuda.alloc(n)];
}

module.exports = { median, timeBatch, timeEvents, fillRandom, deviceBuffers };
