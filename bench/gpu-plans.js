#!/usr/bin/env node
'use strict';
// The CUDA path's choices that only a GPU can settle, each timed with the
// choice forced each way (environment variables read once per process, so
// each form runs in a child process of its own):
//   secondPass   where backward's second pass (each channel's partials
//                summed in one fixed order) is better folded into the
//                first kernel's last block than a kernel of its own:
//                ARELU_CUDA_SECOND_PASS=fold|kernel, and as the rule
//                (fold_second_pass: kFoldPartials, kFoldShuffles,
//                kFoldBlockChannels, estimates) picks it;
//   forwardPlan  per-channel forward as a flat walk (the default) or with
//                the layout's plan (rows, cols; ARELU_CUDA_FWD_PLAN=layout),
//                against a device copy of the same bytes;
//   syncWait     a synchronous backward on DeviceBuffers (host clock,
//                returns with its sums) with the calling thread polling its
//                job's flag before it sleeps and the completer napping
//                between event queries after its polls (default), the
//                calling thread sleeping at once
//                (ARELU_CUDA_EVENT_WAIT=completer), no polling at all
//                (=block), or the completer sleeping in
//                cudaEventSynchronize after its polls (=sleep, the form
//                before the naps); against the same calls queued (events)
//                and one call at a time on an idle GPU (events around each
//                backwardAsync, then a synchronize: the GPU's time for a
//                call that is not queued behind another).
// Every form gives the same bits (test/30.cuda.test.js checks that).
//
// Event figures: CUDA events around batches of queued async calls (the
// GPU's clock, no host waits), median of --reps batches of --calls. Run by
// bench/device-check.sh; runs anywhere (on the CPU stand-in of
// test/cuda-emu with --quick) and says so when no GPU is usable.
//
// Usage: node bench/gpu-plans.js [--quick] [--reps 5] [--calls 10] [--out file.json]
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
// Per-channel forward: the layouts above and gpu-bench's 256M layouts.
const FWD_LAYOUTS = LAYOUTS.filter(([, , axis]) => axis !== undefined).concat([
  ['NCHW [1024, 64, 64, 64]', [1024, 64, 64, 64], 1],
  ['NHWC [1024, 64, 64, 64]', [1024, 64, 64, 64], 3],
  ['NHWC [512, 32, 32, 512]', [512, 32, 32, 512], 3],
]);
const SYNC_SIZES = [2 ** 20, 2 ** 24, 2 ** 26, 2 ** 28, 2 ** 30];
// The CPU stand-in is slow: small layouts of the same kinds.
const QUICK = [
  ['flat 64K', [65536], undefined],
  ['NCHW [4, 8, 32, 32]', [4, 8, 32, 32], 1],
  ['NHWC [16, 8, 8, 64]', [16, 8, 8, 64], 3],
];
const QUICK_SYNC = [65536];

// study: [env variable, forms (the first is the default), what a child times]
const STUDIES = {
  secondPass: ['ARELU_CUDA_SECOND_PASS', ['auto', 'fold', 'kernel']],
  forwardPlan: ['ARELU_CUDA_FWD_PLAN', ['flat', 'layout']],
  syncWait: ['ARELU_CUDA_EVENT_WAIT', ['poll', 'completer', 'block', 'sleep']],
};

function parseArgs(argv) {
  const o = { quick: false, reps: 5, calls: 10, out: null, child: null, study: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--quick') o.quick = true;
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--calls') o.calls = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--child') o.child = v();
    else if (a === '--study') o.study = v();
    else throw new RangeError(`unknown option ${a}`);
  }
  if (o.quick) { o.reps = Math.min(o.reps, 2); o.calls = Math.min(o.calls, 2); }
  return o;
}

const count = (shape) => shape.reduce((a, b) => a * b, 1);

function paramsOf(shape, axis) {
  if (axis === undefined) return { alpha: 0.3, beta: 0.7 };
  const C = shape[axis];
  return { alpha: new Float32Array(C).fill(0.3), beta: new Float32Array(C).fill(0.7) };
}

// In a child: the study's rows, timed in this process's form.
function child(o) {
  const arelu = require('..');
  const { native } = require('../dist/native');
  const { timeEvents, timeBatch, deviceBuffers, median } = require('./lib/gpu-timing');
  const complain = (name) => (e) => process.stderr.write(`${name}: ${e.message}\n`);
  const rows = [];
  const buffers = (n) => deviceBuffers(arelu, n);
  if (o.study === 'secondPass' || o.study === 'forwardPlan') {
    const fwd = o.study === 'forwardPlan';
    const list = o.quick ? QUICK.filter(([, , a]) => !fwd || a !== undefined) : fwd ? FWD_LAYOUTS : LAYOUTS;
    for (const [name, shape, axis] of list) {
      const n = count(shape);
      const [xd, gd, yd] = buffers(n);
      const params = paramsOf(shape, axis);
      const opts = axis === undefined ? { out: yd } : { shape, channelAxis: axis, out: yd };
      const t = fwd
        ? timeEvents(() => { arelu.forwardAsync(xd, params, opts).catch(complain(name)); }, o.reps, o.calls)
        : timeEvents(() => { arelu.backwardAsync(xd, gd, params, opts).catch(complain(name)); }, o.reps, o.calls);
      const row = { name, shape, channelAxis: axis === undefined ? null : axis, n, channels: axis === undefined ? 1 : shape[axis], us: t.median * 1e6 };
      if (fwd) row.copyUs = timeEvents(() => native.cuda.copy(yd.handle, xd.handle), o.reps, o.calls).median * 1e6;
      rows.push(row);
      for (const b of [xd, gd, yd]) b.free();
    }
  } else {
    const sync = () => native.cuda.synchronize(0);
    for (const n of o.quick ? QUICK_SYNC : SYNC_SIZES) {
      const [xd, gd, yd] = buffers(n);
      const p = { alpha: 0.3, beta: 0.7 };
      const t = timeBatch(() => arelu.backward(xd, gd, p, { out: yd }), sync, o.reps, o.calls);
      const q = timeEvents(() => { arelu.backwardAsync(xd, gd, p, { out: yd }).catch(complain('backwardAsync')); }, o.reps, o.calls);
      const c = timeEvents(() => native.cuda.copy(yd.handle, xd.handle), o.reps, o.calls);
      // One call on an idle GPU: events just before and after it, GPU clock.
      const alone = [];
      for (let r = 0; r < o.reps; r++) {
        const a = native.cuda.eventRecord(0);
        arelu.backwardAsync(xd, gd, p, { out: yd }).catch(complain('backwardAsync'));
        const b = native.cuda.eventRecord(0);
        native.cuda.synchronize(0);
        alone.push(native.cuda.eventElapsed(a, b) * 1e3);
      }
      rows.push({ name: `backward ${n}`, n, us: t.median * 1e6, minUs: t.min * 1e6, queuedUs: q.median * 1e6, aloneUs: median(alone), copyUs: c.median * 1e6 });
      for (const b of [xd, gd, yd]) b.free();
    }
  }
  process.stdout.write(JSON.stringify(rows));
}

function runStudy(o, study) {
  const [variable, forms] = STUDIES[study];
  const out = {};
  for (const form of forms) {
    const args = [__filename, '--child', form, '--study', study, '--reps', String(o.reps), '--calls', String(o.calls)].concat(o.quick ? ['--quick'] : []);
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, [variable]: form }, maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${study}: the ${form} child exited with ${r.status}: ${r.stderr}`);
    out[form] = JSON.parse(r.stdout);
  }
  return out;
}

const f1 = (v) => v.toFixed(1).padStart(9);
const pct = (v) => `${(100 * v).toFixed(1)}%`;

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.child) return child(o);
  const arelu = require('..');
  const log = (s) => process.stderr.write(`${s}\n`);
  const report = {
    date: new Date().toISOString(),
    method: `CUDA events around ${o.calls} queued async calls (synchronous calls: host clock around ${o.calls} calls and one synchronize), median of ${o.reps} batches; each form in its own process`,
    secondPass: [], forwardPlan: [], syncWait: [],
  };
  if (!arelu.cuda.isAvailable()) {
    report.skipped = `no CUDA device: ${arelu.info().cuda.reason}`;
    log(`gpu-plans: ${report.skipped}`);
  } else {
    report.gpu = arelu.cuda.devices()[0].name;
    const sp = runStudy(o, 'secondPass');
    report.secondPass = sp.auto.map((a, i) => {
      const f = sp.fold[i].us, k = sp.kernel[i].us;
      const row = { ...a, autoUs: a.us, foldUs: f, kernelUs: k, better: f <= k ? 'fold' : 'kernel', kernelOverFold: k / f };
      delete row.us;
      // Which form the rule took, read from its time (a guess only when the two are close).
      row.autoNearest = Math.abs(a.us - f) <= Math.abs(a.us - k) ? 'fold' : 'kernel';
      log(`second pass ${row.name.padEnd(30)} fold ${f1(f)} us  kernel ${f1(k)} us  (kernel/fold ${row.kernelOverFold.toFixed(3)})  by the rule ${f1(a.us)} us (nearest: ${row.autoNearest})`);
      return row;
    });
    const fp = runStudy(o, 'forwardPlan');
    report.forwardPlan = fp.flat.map((a, i) => {
      const l = fp.layout[i];
      const row = { name: a.name, shape: a.shape, channelAxis: a.channelAxis, n: a.n, channels: a.channels, flatUs: a.us, layoutUs: l.us, copyUs: (a.copyUs + l.copyUs) / 2 };
      row.flatOfCopy = row.copyUs / row.flatUs;
      row.layoutOfCopy = row.copyUs / row.layoutUs;
      log(`forward ${row.name.padEnd(30)} flat walk ${f1(row.flatUs)} us (${pct(row.flatOfCopy)} of copy)  layout plan ${f1(row.layoutUs)} us (${pct(row.layoutOfCopy)})`);
      return row;
    });
    const sw = runStudy(o, 'syncWait');
    report.syncWait = sw.poll.map((a, i) => {
      const c = sw.completer[i], b = sw.block[i], z = sw.sleep[i];
      const row = { n: a.n, pollUs: a.us, completerUs: c.us, blockUs: b.us, sleepUs: z.us, pollMinUs: a.minUs, completerMinUs: c.minUs, blockMinUs: b.minUs, sleepMinUs: z.minUs, queuedUs: a.queuedUs, aloneUs: a.aloneUs, copyUs: a.copyUs };
      // Backward moves 12 bytes per element, the copy 8.
      row.pollOfCopy = (1.5 * row.copyUs) / row.pollUs;
      row.completerOfCopy = (1.5 * row.copyUs) / row.completerUs;
      log(`sync backward ${String(row.n).padStart(10)}: calling thread polls ${f1(row.pollUs)} us (${pct(row.pollOfCopy)} of copy), sleeps ${f1(row.completerUs)} us (${pct(row.completerOfCopy)}), nothing polls ${f1(row.blockUs)} us, completer sleeps after polling ${f1(row.sleepUs)} us; queued ${f1(row.queuedUs)} us, alone ${f1(row.aloneUs)} us`);
      return row;
    });
  }
  const text = JSON.stringify(report, null, 2);
  if (o.out) fs.writeFileSync(o.out, `${text}\n`);
  else process.stdout.write(`${text}\n`);
  return 0;
}

process.exitCode = main();
