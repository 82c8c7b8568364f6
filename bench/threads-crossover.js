#!/usr/bin/env node
'use strict';
// Where a second thread starts to pay (the serial thresholds of
// native/core/arelu_cpu.h): forward and backward with 1 and with all
// threads, interleaved rounds, medians. Run it on a build whose threshold is
// lowered, or 2 threads run serially below the defaults:
//   npx cmake-js compile --out build-thr --CDARELU_CUDA=OFF --CDARELU_SERIAL_BELOW=32768
//   ARELU_NATIVE_PATH=$PWD/build-thr/Release/arelu.node node bench/threads-crossover.js [SIZES_K,...] [--idle [GAP_MS]]
// Back to back (default), the pool is awake: that sets kSerialBelow*.
// With --idle every timed call follows a sleep of GAP_MS (default 2 ms, far
// past the pool's spin window), so its threads must be woken: that sets
// kIdleSerialBelow* (a measurement build sets both thresholds to its value).
const os = require('os');
const arelu = require('..');

let idle = false, gapMs = 2, sizesArg;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--idle') {
    idle = true;
    if (/^[0-9.]+$/.test(process.argv[i + 1] || '')) gapMs = Number(process.argv[++i]);
  } else sizesArg = a;
}
const defaultSizes = idle ? '256,512,1024,2048,4096' : '64,128,256,512,1024,2048,4096';
const all = os.availableParallelism();
const rounds = idle ? 41 : 21;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(sleeper, 0, 0, ms);
console.log(`serial below: ${JSON.stringify(arelu.info().serialBelow)}, idle: ${JSON.stringify(arelu.info().idleSerialBelow)} elements; 1 vs ${all} threads; ` +
  `${idle ? `one call after each ${gapMs} ms sleep (pool asleep)` : 'back-to-back calls (pool awake)'}; medians of ${rounds} rounds`);
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
for (const n of (sizesArg || defaultSizes).split(',').map((k) => Number(k) * 1024)) {
  const x = new Float32Array(n), dy = new Float32Array(n), out = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = Math.sin(i * 0.37); dy[i] = Math.cos(i * 0.11); }
  const reps = idle ? 1 : Math.max(3, Math.round(2e6 / n));
  const t = { f1: [], fN: [], b1: [], bN: [] };
  const call = (k) => {
    if (k[0] === 'f') arelu.forward(x, { alpha: 0.5, beta: 1 }, { out });
    else arelu.backward(x, dy, { alpha: 0.5, beta: 1 }, { out });
  };
  for (let r = 0; r < rounds; r++)
    for (const k of Object.keys(t)) {
      arelu.setNumThreads(k[1] === '1' ? 1 : all);
      // One untimed call: a resize starts new pool threads, which is not
      // what a loop of calls pays (and it brings the arrays into cache).
      call(k);
      if (idle) sleep(gapMs);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) call(k);
      t[k].push(Number(process.hrtime.bigint() - t0) / reps / 1000);
    }
  const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
  console.log(`${String(n / 1024).padStart(5)}K  forward ${m.f1.toFixed(1)} / ${m.fN.toFixed(1)} us (${all}t/1t ${(m.fN / m.f1).toFixed(2)})` +
    `   backward ${m.b1.toFixed(1)} / ${m.bN.toFixed(1)} us (${all}t/1t ${(m.bN / m.b1).toFixed(2)})`);
}
arelu.setNumThreads(all);
