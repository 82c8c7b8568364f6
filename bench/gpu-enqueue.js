#!/usr/bin/env node
'use strict';
// Host time per call of a per-channel forward on DeviceBuffers (which only
// enqueues: coefficients, ring slot, copy, launch), with the same
// parameters call after call, for a few channel counts, and of a
// scalar-parameter forward on the same buffers (the floor: validation and
// a launch). Best of 3 batches
// of --calls calls, microseconds; the device is synchronized after each
// batch, outside the timing. Runs on a GPU or on the CUDA stand-in
// (test/cuda-emu), whose host side is the same code.
//
// Usage: node bench/gpu-enqueue.js [--calls 100]
const arelu = require('..');
const { native } = require('../dist/native');

const argv = process.argv.slice(2);
const calls = argv[0] === '--calls' ? Number(argv[1]) : 100;
if (!arelu.cuda.isAvailable()) {
  console.log(`gpu-enqueue: no CUDA device: ${arelu.info().cuda.reason}`);
  process.exit(0);
}
console.log(`${arelu.cuda.devices()[0].name}; host us per call, best of 3 x ${calls}`);
// Best of 3 batches of `calls` calls of fn, microseconds per call.
function hostUs(fn) {
  const batch = (k) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < k; i++) fn();
    const us = Number(process.hrtime.bigint() - t) / k / 1000;
    native.cuda.synchronize(0);
    return us;
  };
  batch(Math.max(1, calls / 5));
  return Math.min(batch(calls), batch(calls), batch(calls));
}
for (const [shape, axis] of [[[2, 2048], 1], [[2, 512], 1], [[2, 8, 8, 64], 3], [[2, 8, 8, 64], null]]) {
  const n = shape.reduce((a, b) => a * b, 1), C = axis === null ? 1 : shape[axis];
  const xd = arelu.cuda.upload(new Float32Array(n).fill(0.5)), yd = arelu.cuda.alloc(n);
  const params = axis === null ? { alpha: 0.3, beta: 0.7 } : { alpha: new Float32Array(C).fill(0.3), beta: new Float32Array(C).fill(0.7) };
  const opts = axis === null ? { out: yd } : { shape, channelAxis: axis, out: yd };
  const what = axis === null ? 'scalar parameters' : `channelAxis ${axis} (${C} channels)`;
  console.log(`  forward [${shape}] ${what}: ${hostUs(() => arelu.forward(xd, params, opts)).toFixed(1)} us`);
  if (axis === null) {
    // Where the scalar call's time goes: the native entry without the
    // TypeScript layer, and a device-to-device copy of the same bytes (one
    // CUDA call, the floor of any call).
    console.log(`  native forward [${shape}], no TypeScript layer: ${hostUs(() => native.cuda.forward(xd.handle, yd.handle, 0.3, 0.7, 1, 1)).toFixed(1)} us`);
    console.log(`  native device copy [${shape}]: ${hostUs(() => native.cuda.copy(yd.handle, xd.handle)).toFixed(1)} us`);
  }
  xd.free(); yd.free();
}
