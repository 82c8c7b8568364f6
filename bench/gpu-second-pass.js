#!/usr/bin/env node
'use strict';
// Where backward's second pass (each channel's partials summed in one
// fixed order) is better folded into the first kernel's last block than a
// kernel of its own: times backward on the GPU for layouts on both sides
// of the rule in native/cuda/arelu_cuda.cu (fold_second_pass: kFoldPartials,
// kFoldShuffles, kFoldBlockChannels, which are estimates), with the pass
// forced each way (ARELU_CUDA_SECOND_PASS=fold|kernel, read once per
// process, so each form runs in a child process of its own) and as the
// rule picks it. Same bits either way (test/30.cuda.test.js checks that).
//
// Each figure: CUDA events around batches of queued backwardAsync calls
// (the GPU's clock, no host waits), median of --reps batches of --calls.
// Run by bench/device-check.sh; runs anywhere (on the CPU stand-in of
// test/cuda-emu with --quick) and says so when no GPU is usable.
//
// Usage: node bench/gpu-second-pass.js [--quick] [--reps 5] [--calls 10] [--out file.json]
const { spawnSync } = require('child_process');
const fs = require('fs');

// [name, shape, channelAxis]: scalar parameters (flat: always folded),
// NCHW maps (rows plan: partials per channel = N x chunks per row) and
// NHWC (cols plan: a partial per band and column), from few to many
// partials and channels.
const LAYOUTS = [
  ['flat 16M', [2 ** 24], undefined],
  ['NCHW [64, 64, 56, 56]', [64, 64, 56, 56], 1],
  ['NCHW [256, 64, 32, 32]', [256, 64, 32, 32], 1],
  ['NCHW [32, 256, 28, 28]', [32, 256, 28, 28], 1],
  ['NCHW [128, 512, 14, 14]', [128, 512, 14, 14], 1],
  ['NCHW [8, 4, 512, 512]', [8, 4, 512, 512], 1],
  ['NCHW [2, 3, 1024, 1024]', [2, 3, 1024, 1024], 1],
  ['NCHW [32, 64, 8, 8] (cols)', [32, 64, 8, 8], 1],
  ['NHWC [8, 7, 7, 512]', [8, 7, 7, 512], 3],
  ['NHWC [64, 56, 56, 64]', [64, 56, 56, 64], 3],
  ['NHWC [256, 32, 32, 64]', [256, 32, 32, 64], 3],
  ['NHWC [128, 14, 14, 512]', [128, 14, 14, 512], 3],
  ['NHWC [32, 7, 7, 2048]', [32, 7, 7, 2048], 3],
  ['NHWC [16, 128, 128, 16]', [16, 128, 128, 16], 3],
  ['NHWC [4, 256, 256, 3]', [4, 256, 256, 3], 3],
];
// The CPU stand-in is slow: small layouts of the same kinds.
const QUICK = [
  ['flat 64K', [65536], undefined],
  ['NCHW [4, 8, 32, 32]', [4, 8, 32, 32], 1],
  ['NHWC [16, 8, 8, 64]', [16, 8, 8, 64], 3],
];

function parseArgs(argv) {
  const o = { quick: false, reps: 5, calls: 10, out: null, child: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--quick') o.quick = true;
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--calls') o.calls = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--child') o.child = v();
    else throw new RangeError(`unknown option ${a}`);
  }
  if (o.quick) { o.reps = Math.min(o.reps, 2); o.calls = Math.min(o.calls, 2); }
  return o;
}

// In a child: each layout's backward, timed in this process's form.
function child(o) {
  const arelu = require('..');
  const { timeEvents, fillRandom } = require('./lib/gpu-timing');
  const rows = [];
  for (const [name, shape, axis] of o.quick ? QUICK : LAYOUTS) {
    const n = shape.reduce((a, b) => a * b, 1);
    const C = axis === undefined ? 1 : shape[axis];
    const x = fillRandom(new Float32Array(n));
    const xd = arelu.cuda.upload(x);
    const gd = arelu.cuda.upload(x.reverse());
    const yd = arelu.cuda.alloc(n);
    const params = axis === undefined ? { alpha: 0.3, beta: 0.7 }
      : { alpha: new Float32Array(C).fill(0.3), beta: new Float32Array(C).fill(0.7) };
    const opts = axis === undefined ? { out: yd } : { shape, channelAxis: axis, out: yd };
    const t = timeEvents(() => { arelu.backwardAsync(xd, gd, params, opts).catch((e) => process.stderr.write(`${name}: ${e.message}\n`)); }, o.reps, o.calls);
    rows.push({ name, shape, channelAxis: axis === undefined ? null : axis, n, channels: C, us: t.median * 1e6, minUs: t.min * 1e6, maxUs: t.max * 1e6 });
    for (const b of [xd, gd, yd]) b.free();
  }
  process.stdout.write(JSON.stringify(rows));
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.child) return child(o);
  const arelu = require('..');
  const report = { date: new Date().toISOString(), method: `CUDA events around ${o.calls} queued backwardAsync calls, median of ${o.reps} batches; each form in its own process (ARELU_CUDA_SECOND_PASS)`, rows: [] };
  if (!arelu.cuda.isAvailable()) {
    report.skipped = `no CUDA device: ${arelu.info().cuda.reason}`;
    process.stderr.write(`gpu-second-pass: ${report.skipped}\n`);
  } else {
    report.gpu = arelu.cuda.devices()[0].name;
    const forms = {};
    for (const mode of ['auto', 'fold', 'kernel']) {
      const args = [__filename, '--child', mode, '--reps', String(o.reps), '--calls', String(o.calls)].concat(o.quick ? ['--quick'] : []);
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, ARELU_CUDA_SECOND_PASS: mode }, maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`the ${mode} child exited with ${r.status}: ${r.stderr}`);
      forms[mode] = JSON.parse(r.stdout);
    }
    report.rows = forms.auto.map((a, i) => {
      const f = forms.fold[i].us, k = forms.kernel[i].us;
      const row = { ...a, autoUs: a.us, foldUs: f, kernelUs: k, better: f <= k ? 'fold' : 'kernel', kernelOverFold: k / f };
      delete row.us; delete row.minUs; delete row.maxUs;
      // Which form the rule took, read from its time (the two forms are
      // timed separately, so this is a guess only when they are close).
      row.autoNearest = Math.abs(a.us - f) <= Math.abs(a.us - k) ? 'fold' : 'kernel';
      return row;
    });
    for (const r of report.rows) {
      process.stderr.write(`${r.name.padEnd(30)} fold ${r.foldUs.toFixed(1).padStart(9)} us  kernel ${r.kernelUs.toFixed(1).padStart(9)} us  (kernel/fold ${r.kernelOverFold.toFixed(3)})  by the rule ${r.autoUs.toFixed(1).padStart(9)} us (nearest: ${r.autoNearest})\n`);
    }
  }
  const text = JSON.stringify(report, null, 2);
  if (o.out) fs.writeFileSync(o.out, `${text}\n`);
  else process.stdout.write(`${text}\n`);
  return 0;
}

process.exitCode = main();
