#!/usr/bin/env node
'use strict';
// Per-channel parameters on the activation shapes of real layers (issue 11):
// the feature maps of a ResNet at batch 8 in both layouts (NCHW, and NHWC,
// tfjs's), the first layers of the MNIST demo's ConvNet at batch 64, and a
// 4x4 map. For each shape, backward and forward with per-channel alpha/beta
// against the same call with scalar parameters (same n) and against
// TypedArray.set of the same n, with 1 thread and with all threads.
// Calls are timed in batches back to back (a loop, as in training), the
// three timed in alternating rounds; medians of the rounds.
//   node bench/layer-shapes.js [--quick] [--json FILE] [--only TEXT]
// Ratios printed: per-channel / scalar-parameter call, and the SPEC's
// t / (1.5 x copy) for backward, t / copy for forward.
const os = require('os');
const fs = require('fs');
const arelu = require('..');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : null;
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? args[onlyAt + 1] : null;

const shapes = [
  ['resnet 56x56x64, NCHW', [8, 64, 56, 56], 1],
  ['resnet 28x28x128, NCHW', [8, 128, 28, 28], 1],
  ['resnet 14x14x256, NCHW', [8, 256, 14, 14], 1],
  ['resnet 7x7x512, NCHW', [8, 512, 7, 7], 1],
  ['resnet 56x56x64, NHWC', [8, 56, 56, 64], 3],
  ['resnet 28x28x128, NHWC', [8, 28, 28, 128], 3],
  ['resnet 14x14x256, NHWC', [8, 14, 14, 256], 3],
  ['resnet 7x7x512, NHWC', [8, 7, 7, 512], 3],
  ['mnist conv1 26x26x32, NHWC', [64, 26, 26, 32], 3],
  ['mnist conv2 11x11x64, NHWC', [64, 11, 11, 64], 3],
  ['4x4x64, NCHW', [16, 64, 4, 4], 1],
];

const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
const all = os.availableParallelism();
const rounds = quick ? 3 : 11;
const rows = [];
const fmtN = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)}M` : `${Math.round(n / 1024)}K`);

console.log(`arelu ${arelu.info().version}, ${arelu.info().isa}, ${all} threads available; ${rounds} rounds, medians`);
for (const [name, shape, channelAxis] of shapes.filter(([name]) => !only || name.includes(only))) {
  const n = shape.reduce((a, b) => a * b, 1), C = shape[channelAxis];
  const x = new Float32Array(n), dy = new Float32Array(n), out = new Float32Array(n), dst = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = Math.sin(i * 0.37) * 2; dy[i] = Math.cos(i * 0.11); }
  const alpha = new Float32Array(C).map((_, c) => 0.1 + 0.8 * c / C), beta = new Float32Array(C).map((_, c) => c / C - 0.5);
  const pc = { out, shape, channelAxis };
  const calls = {
    backward: [() => arelu.backward(x, dy, { alpha, beta }, pc), () => arelu.backward(x, dy, { alpha: 0.5, beta: 0 }, { out })],
    forward: [() => arelu.forward(x, { alpha, beta }, pc), () => arelu.forward(x, { alpha: 0.5, beta: 0 }, { out })],
  };
  const copy = () => dst.set(x);
  const batch = Math.max(2, Math.round((quick ? 2e6 : 8e6) / n));
  const time = (f) => { const t = process.hrtime.bigint(); for (let i = 0; i < batch; i++) f(); return Number(process.hrtime.bigint() - t) / batch / 1000; };
  for (const threads of [...new Set([1, all])]) {
    arelu.setNumThreads(threads);
    for (const op of ['backward', 'forward']) {
      const [fp, fu] = calls[op];
      fp(); fu(); copy();
      const t = { pc: [], uni: [], copy: [] };
      for (let r = 0; r < rounds; r++) {
        const order = r % 2 ? ['copy', 'uni', 'pc'] : ['pc', 'uni', 'copy'];
        for (const k of order) t[k].push(time(k === 'pc' ? fp : k === 'uni' ? fu : copy));
      }
      const m = { pc: median(t.pc), uni: median(t.uni), copy: median(t.copy) };
      const scale = op === 'backward' ? 1.5 : 1;
      const row = { name, shape, channelAxis, n, threads, op, perChannelUs: m.pc, scalarUs: m.uni, copyUs: m.copy,
        perChannelOverScalar: m.pc / m.uni, specRatio: m.pc / (scale * m.copy) };
      rows.push(row);
      console.log(`${name.padEnd(28)} ${fmtN(n).padStart(6)} ${threads}t ${op.padEnd(8)} per-channel ${m.pc.toFixed(1).padStart(8)} us` +
        `  scalar ${m.uni.toFixed(1).padStart(8)} us  ratio ${row.perChannelOverScalar.toFixed(2)}` +
        `  SPEC ${row.specRatio.toFixed(2)} (${op === 'backward' ? 't / 1.5 copy' : 't / copy'})`);
    }
  }
}
arelu.setNumThreads(all);
if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0].model, threads: all, info: arelu.info(), rows }, null, 2));
