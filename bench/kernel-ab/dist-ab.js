#!/usr/bin/env node
'use strict';
// The JS layer of two builds in one process: OLD_DIST and NEW_DIST are
// copies of dist/ made inside this checkout (each finds package.json and the
// addon one level up), e.g. `git stash; npm run build:ts; cp -r dist
// build-dist-old; git stash pop; npm run build:ts; cp -r dist build-dist-new`
// (build-* is git-ignored). Both load this checkout's addon; they are called
// in alternating rounds (which goes first alternates too), 15 rounds,
// medians, one thread. Per-channel forward and backward with Float32Array
// parameters, NHWC and NCHW, 64 channels.
//   node bench/kernel-ab/dist-ab.js OLD_DIST NEW_DIST [N ...]   (default N: 256 16384)
const path = require('path');
const [oldDir, newDir, ...sizes] = process.argv.slice(2);
if (!oldDir || !newDir) {
  console.error('usage: node bench/kernel-ab/dist-ab.js OLD_DIST NEW_DIST [N ...]');
  process.exit(2);
}
const A = { old: require(path.resolve(oldDir, 'index.js')), new: require(path.resolve(newDir, 'index.js')) };
A.new.setNumThreads(1);
A.old.setNumThreads(1);
const C = 64;
for (const n of (sizes.length ? sizes : ['256', '16384']).map(Number)) {
  const x = new Float32Array(n).map((_, i) => Math.sin(i * 0.37)), out = new Float32Array(n), dy = x.map((v) => v * 0.5);
  const p = { alpha: new Float32Array(C).fill(0.5), beta: new Float32Array(C).fill(1) };
  const nhwc = { out, shape: [n / C, C], channelAxis: 1 };
  const nchw = { out, shape: [1, C, n / C], channelAxis: 1 };
  const cases = {
    'fwd nhwc': (m) => () => m.forward(x, p, nhwc), 'fwd nchw': (m) => () => m.forward(x, p, nchw),
    'bwd nhwc': (m) => () => m.backward(x, dy, p, nhwc), 'bwd nchw': (m) => () => m.backward(x, dy, p, nchw),
  };
  for (const [name, make] of Object.entries(cases)) {
    const t = { old: [], new: [] };
    for (let r = 0; r < 15; r++) {
      for (const v of r % 2 ? ['old', 'new'] : ['new', 'old']) {
        const f = make(A[v]), reps = Math.max(200, (2e6 / n) | 0);
        for (let i = 0; i < 100; i++) f();
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < reps; i++) f();
        t[v].push(Number(process.hrtime.bigint() - t0) / reps / 1000);
      }
    }
    const med = (a) => a.sort((u, w) => u - w)[a.length >> 1];
    console.log(`${name} n=${n}: old ${med(t.old).toFixed(3)} us, new ${med(t.new).toFixed(3)} us, new/old ${(med(t.new) / med(t.old)).toFixed(2)}`);
  }
}
