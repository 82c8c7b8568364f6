#!/usr/bin/env node
// `arelu bench` (and `npm run bench`): throughput of the fused AReLU forward
// and backward against the physical limit (a memory copy of the same bytes)
// and against what a Node user would otherwise write (a JS loop, tfjs
// composite ops), on the CPU and, where one is usable, the GPU.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { renderSvg, fmtSize } = require('./lib/chart');

const USAGE = `Usage: arelu bench [options]      (or: npm run bench -- [options])

Times arelu forward/backward (medians after warm-up) against a memory copy of
the same bytes, a plain JS loop and tfjs composite ops (cpu backend), on the
CPU and on the GPU where CUDA is available.

Options:
  --sizes LIST       element counts, comma-separated; K = 1024, M = 1048576
                     (default 1K,4K,16K,64K,256K,1M,4M,16M)
  --per-channel [L]  per-channel alpha/beta in layout L = nchw | nhwc
                     (default: both) instead of scalar parameters
  --json FILE        write every measurement and the machine description
  --svg FILE         write a throughput-against-size chart
  --quick            small sizes and short timings (a smoke test, not figures)
  --time MS          time budget per measurement (default 100; quick 12)
  --tfjs-max N       largest size timed with tfjs (default 256K; quick 16K):
                     its cpu backend takes about a second per 1M-element call
  --no-tfjs          skip the tfjs baseline
  -h, --help         this text

Bytes moved per element: forward 8 (read x, write y); backward 12 (read x,
read dy, write dx); a copy 8 (read, write). The SPEC ratios are
  forward:  t_forward(n) / t_copy(n)           target <= 1.25
  backward: t_backward(n) / (1.5 * t_copy(n))  target <= 1.25
where t_copy(n) copies n float32 elements (the same bytes as forward), each
ratio the median of rounds that time arelu and the copy back to back.`;

// ---------------------------------------------------------------- arguments

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(s.trim());
  if (!m) throw new Error(`bad size '${s}' (expected e.g. 4096, 64K or 16M)`);
  const mult = { '': 1, k: 1024, m: 1 << 20, g: 1 << 30 }[m[2].toLowerCase()];
  const n = Math.round(Number(m[1]) * mult);
  if (!(n > 0) || !Number.isSafeInteger(n)) throw new Error(`bad size '${s}'`);
  return n;
}

function parseArgs(argv) {
  const o = {
    sizes: null, perChannel: null, json: null, svg: null, quick: false, timeMs: null,
    tfjsMax: null, tfjs: true, help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--sizes': o.sizes = value().split(',').filter(Boolean).map(parseSize); break;
      case '--per-channel': {
        const next = argv[i + 1];
        if (next === 'nchw' || next === 'nhwc') { o.perChannel = [next]; i++; }
        else o.perChannel = ['nchw', 'nhwc'];
        break;
      }
      case '--json': o.json = value(); break;
      case '--svg': o.svg = value(); break;
      case '--quick': o.quick = true; break;
      case '--time': o.timeMs = Number(value()); if (!(o.timeMs > 0)) throw new Error('--time needs a positive number of ms'); break;
      case '--tfjs-max': o.tfjsMax = parseSize(value()); break;
      case '--no-tfjs': o.tfjs = false; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new Error(`unknown option '${a}'`);
    }
  }
  o.sizes = o.sizes || (o.quick ? [1024, 16384, 262144] : [1, 4, 16, 64, 256, 1024, 4096, 16384].map((k) => k * 1024));
  o.sizes = [...new Set(o.sizes)].sort((a, b) => a - b);
  o.timeMs = o.timeMs || (o.quick ? 12 : 100);
  o.tfjsMax = o.tfjsMax || (o.quick ? 16384 : 1 << 18);
  return o;
}

// The cache-resident sizes of real layers (SPEC §7) and their targets.
const CACHE_MIN = 16384, CACHE_MAX = 1 << 20;
function cacheTarget(op, n) {
  if (op === 'backward') return n < 65536 ? 2.0 : 1.5;
  return n < 65536 ? null : 1.25;
}

// ---------------------------------------------------------------- timing

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Median time of one call of fn, in ms. Warm-up first; tiny calls are timed
 * in batches of k (each sample = batch time / k) so that a sample is well
 * above the timer's resolution; then samples until both the minimum count
 * and the time budget are reached. `sync` (optional) runs at the end of each
 * timed batch (GPU: wait for the device).
 */
function measure(fn, { budgetMs, minSamples = 5, maxSamples = 400, sync = () => {} }) {
  const start = now();
  let calls = 0;
  let last = 0;
  // Warm-up: at least 2 calls, up to ~20% of the budget.
  while (calls < 2 || (now() - start < budgetMs * 0.2 && calls < 1000)) {
    const t = now();
    fn();
    sync();
    last = now() - t;
    calls++;
  }
  const targetBatchMs = Math.min(1, budgetMs / 20);
  const k = Math.max(1, Math.min(100000, Math.ceil(targetBatchMs / Math.max(last, 1e-5))));
  // Calls slower than the budget allows: 3 samples make the median.
  if (last * minSamples > budgetMs) minSamples = Math.min(minSamples, 3);
  const samples = [];
  const t0 = now();
  while (samples.length < minSamples || (now() - t0 < budgetMs && samples.length < maxSamples)) {
    const t = now();
    for (let i = 0; i < k; i++) fn();
    sync();
    samples.push((now() - t) / k);
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples), samples: samples.length, batch: k, samplesMs: samples.map((s) => +s.toPrecision(5)) };
}

/**
 * Median over rounds of time(a) / time(b), the two timed back to back (order
 * alternating) so that a change of machine load between them cancels out: on
 * a shared machine this ratio is steadier than a ratio of separate medians.
 */
function pairedRatio(fa, fb, { rounds, k }) {
  fa(); fb();
  const time = (f) => { const t = now(); for (let i = 0; i < k; i++) f(); return now() - t; };
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    let ta, tb;
    if (r % 2) { tb = time(fb); ta = time(fa); } else { ta = time(fa); tb = time(fb); }
    ratios.push(ta / tb);
  }
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios), rounds, batch: k };
}

// ---------------------------------------------------------------- workloads

function clampAlpha(a) { return Math.fround(Math.min(Math.max(Math.fround(a), Math.fround(0.01)), Math.fround(0.99))); }
function sigmoid(b) { return 1 / (1 + Math.exp(-Math.fround(b))); }

/** A plain JS loop, as a Node user would write it (scalar parameters). */
function jsForward(x, y, a, b) {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = v > 0 ? v * b : v * a;
  }
}
function jsBackward(x, g, dx, a, b, s) {
  let sa = 0, sb = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i], gi = g[i];
    if (v > 0) { dx[i] = gi * b; sb += gi * v; } else if (v < 0) { dx[i] = gi * a; sa += gi * v; } else dx[i] = 0;
  }
  return sa + sb * s * (1 - s);
}
/** Per-channel JS loops: NCHW (channel outer, contiguous inner run) and NHWC (channel innermost). */
function jsForwardPc(x, y, A, B, lay) {
  const { C, inner } = lay;
  if (lay.layout === 'nchw') {
    for (let base = 0, c = 0; base < x.length; base += inner, c = (c + 1) % C) {
      const a = A[c], b = B[c];
      for (let i = base, e = base + inner; i < e; i++) { const v = x[i]; y[i] = v > 0 ? v * b : v * a; }
    }
  } else {
    for (let base = 0; base < x.length; base += C)
      for (let c = 0; c < C; c++) { const i = base + c, v = x[i]; y[i] = v > 0 ? v * B[c] : v * A[c]; }
  }
}
function jsBackwardPc(x, g, dx, A, B, lay, sums) {
  const { C, inner } = lay;
  sums.fill(0);
  if (lay.layout === 'nchw') {
    for (let base = 0, c = 0; base < x.length; base += inner, c = (c + 1) % C) {
      const a = A[c], b = B[c];
      let sa = 0, sb = 0;
      for (let i = base, e = base + inner; i < e; i++) {
        const v = x[i], gi = g[i];
        if (v > 0) { dx[i] = gi * b; sb += gi * v; } else if (v < 0) { dx[i] = gi * a; sa += gi * v; } else dx[i] = 0;
      }
      sums[c] += sa; sums[C + c] += sb;
    }
  } else {
    for (let base = 0; base < x.length; base += C)
      for (let c = 0; c < C; c++) {
        const i = base + c, v = x[i], gi = g[i];
        if (v > 0) { dx[i] = gi * B[c]; sums[C + c] += gi * v; } else if (v < 0) { dx[i] = gi * A[c]; sums[c] += gi * v; } else dx[i] = 0;
      }
  }
  return sums[0];
}

function gcd(a, b) { while (b) [a, b] = [b, a % b]; return a; }

/** A 4-D image-like shape for n elements: C = 64 channels where n allows, H, W <= 32. */
function layoutFor(n, layout) {
  const C = gcd(n, 64);
  const rest = n / C;
  const H = gcd(rest, 32), W = gcd(rest / H, 32), N = rest / (H * W);
  return layout === 'nchw'
    ? { layout, C, inner: H * W, shape: [N, C, H, W], channelAxis: 1 }
    : { layout, C, inner: 1, shape: [N, H, W, C], channelAxis: 3 };
}

function fillRandom(a, seed) {
  // xorshift32: reproducible data; ~1/64 exact zeros.
  let s = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s & 63) === 0 ? 0 : (s / 4294967296) * 2 - 1;
  }
}

// ---------------------------------------------------------------- tfjs

async function loadTfjs() {
  let id;
  try {
    id = require.resolve('@tensorflow/tfjs');
  } catch {
    return { tf: null, reason: '@tensorflow/tfjs is not installed (npm install @tensorflow/tfjs to add this baseline)' };
  }
  // tfjs greets Node users on the console when it loads: keep stdout for the table.
  const saved = { log: console.log, warn: console.warn, info: console.info };
  console.log = console.warn = console.info = () => {};
  try {
    const tf = require(id);
    await tf.setBackend('cpu');
    await tf.ready();
    return { tf, reason: '', version: tf.version_core || (tf.version && tf.version['tfjs-core']) || '' };
  } catch (e) {
    return { tf: null, reason: `@tensorflow/tfjs failed to load: ${String(e && e.message).split('\n')[0]}` };
  } finally {
    Object.assign(console, saved);
  }
}

/** The composite module of the paper (relu(x)*b - relu(-x)*a) in tfjs ops, Float32Array in and out. */
function tfjsOps(tf, n, lay, alpha, beta) {
  const shape = lay ? lay.shape : [n];
  const pshape = lay ? (lay.layout === 'nchw' ? [1, lay.C, 1, 1] : [lay.C]) : [];
  const aVar = tf.tensor(alpha, pshape, 'float32');
  const bVar = tf.tensor(beta, pshape, 'float32');
  const f = (x, a, b) => tf.sub(tf.mul(tf.relu(x), tf.add(1, tf.sigmoid(b))), tf.mul(tf.relu(tf.neg(x)), tf.clipByValue(a, 0.01, 0.99)));
  const grads = tf.grads(f);
  return {
    forward(x) {
      return tf.tidy(() => f(tf.tensor(x, shape, 'float32'), aVar, bVar).dataSync());
    },
    backward(x, dy) {
      return tf.tidy(() => {
        const [dx, da, db] = grads([tf.tensor(x, shape, 'float32'), aVar, bVar], tf.tensor(dy, shape, 'float32'));
        const r = dx.dataSync();
        da.dataSync(); db.dataSync();
        return r;
      });
    },
    dispose() { aVar.dispose(); bVar.dispose(); },
  };
}

// ---------------------------------------------------------------- progress

function makeProgress(total) {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let done = 0, lastPrint = 0;
  return {
    step(what) {
      done++;
      const t = Date.now();
      if (tty) {
        process.stderr.write(`\r\x1b[K[${done}/${total}] ${what}`);
      } else if (t - lastPrint > 2000 || done === total) {
        process.stderr.write(`bench: [${done}/${total}] ${what} (${((t - t0) / 1000).toFixed(1)} s)\n`);
        lastPrint = t;
      }
    },
    end() {
      if (tty) process.stderr.write('\r\x1b[K');
      process.stderr.write(`bench: ${done} measurements in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    },
  };
}

// ---------------------------------------------------------------- formatting

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 0.01) return `${(ms * 1000).toFixed(2)}us`;
  if (ms < 1) return `${(ms * 1000).toFixed(1)}us`;
  return `${ms.toFixed(ms < 100 ? 3 : 1)}ms`;
}
function fmtX(v) { return Number.isFinite(v) ? `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)}x` : '-'; }
function pad(s, n, right) { s = String(s); return right ? s.padStart(n) : s.padEnd(n); }

// ---------------------------------------------------------------- main

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`arelu bench: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) { console.log(USAGE); return 0; }

  let arelu;
  try {
    arelu = require('..');
  } catch (e) {
    console.error(`arelu bench: cannot load arelu from ${path.join(__dirname, '..')}:\n${e.message}\n(in a development clone: npm run compile)`);
    return 1;
  }
  let nativeCuda = null; // device copy and synchronize: internal, bench-only
  try { nativeCuda = require('../dist/native').native.cuda; } catch { /* not needed without a GPU */ }

  const info0 = arelu.info();
  const envIsa = process.env.ARELU_CPU_ISA;
  const restore = () => {
    arelu.setCpuIsa(envIsa && envIsa !== '' ? envIsa : 'auto');
    arelu.setNumThreads(info0.threads);
  };
  const allThreads = info0.threads;
  const autoIsa = arelu.setCpuIsa('auto');
  const isas = info0.isasSupported;
  restore();

  const tfjs = opts.tfjs ? await loadTfjs() : { tf: null, reason: 'skipped (--no-tfjs)' };
  const cudaOk = arelu.cuda.isAvailable() && nativeCuda !== null;
  const cudaReason = cudaOk ? '' : (info0.cuda.reason || 'the bench could not reach the CUDA entry points');
  const layouts = opts.perChannel || [null];

  // ---- rows: what is timed. `op` kinds: 'copy' rows are timed once per size.
  const rows = [];
  const addRow = (r) => { rows.push(r); return r; };
  addRow({ id: 'copy-set', kind: 'copy', backend: 'cpu', label: 'copy: TypedArray.set, 1 thread', threads: 1 });
  addRow({ id: 'copy-parallel', kind: 'copy', backend: 'cpu', label: `copy: parallelCopy, ${allThreads} threads`, threads: allThreads });
  for (const lay of layouts) {
    const L = lay ? ` ${lay.toUpperCase()}` : '';
    const sfx = lay ? `-${lay}` : '';
    addRow({ id: `arelu-cpu-auto${sfx}`, kind: 'arelu-cpu', backend: 'cpu', isa: 'auto', isaUsed: autoIsa, threads: allThreads, layout: lay, label: `arelu CPU auto (${autoIsa}), ${allThreads} threads${L}` });
    addRow({ id: `arelu-cpu-auto-1t${sfx}`, kind: 'arelu-cpu', backend: 'cpu', isa: 'auto', isaUsed: autoIsa, threads: 1, layout: lay, label: `arelu CPU auto (${autoIsa}), 1 thread${L}` });
    for (const isa of isas)
      addRow({ id: `arelu-cpu-${isa}${sfx}`, kind: 'arelu-cpu-isa', backend: 'cpu', isa, isaUsed: isa, threads: allThreads, layout: lay, label: `arelu CPU ${isa} (forced), ${allThreads} threads${L}` });
    addRow({ id: `js-loop${sfx}`, kind: 'js', backend: 'js', threads: 1, layout: lay, label: `plain JS loop${L}` });
    if (tfjs.tf) addRow({ id: `tfjs-cpu${sfx}`, kind: 'tfjs', backend: 'tfjs', threads: 1, layout: lay, maxN: opts.tfjsMax, label: `tfjs composite ops (cpu backend)${L}` });
  }
  if (cudaOk) {
    addRow({ id: 'copy-device', kind: 'copy', backend: 'cuda', label: 'copy: device to device (GPU 0)', threads: 0 });
    for (const lay of layouts) {
      const L = lay ? ` ${lay.toUpperCase()}` : '';
      const sfx = lay ? `-${lay}` : '';
      addRow({ id: `arelu-cuda-device${sfx}`, kind: 'arelu-cuda', backend: 'cuda', layout: lay, label: `arelu CUDA, device-resident${L}` });
      addRow({ id: `arelu-cuda-host${sfx}`, kind: 'arelu-cuda-host', backend: 'cuda', layout: lay, label: `arelu CUDA, Float32Array in/out (with transfers)${L}` });
    }
  }

  const rowSizes = (r) => opts.sizes.filter((n) => !r.maxN || n <= r.maxN);
  const nCache = opts.sizes.filter((s) => s >= CACHE_MIN && s <= CACHE_MAX).length * layouts.length * 2 * new Set([1, allThreads]).size;
  const total = rows.reduce((t, r) => t + rowSizes(r).length * (r.kind === 'copy' ? 1 : 2), 0) + 4 + 4 * layouts.length + nCache;
  const progress = makeProgress(total);
  const measurements = [];
  const alpha = 0.9, beta = 2.0;
  const a32 = clampAlpha(alpha), s64 = sigmoid(beta), b32 = Math.fround(1 + s64);
  let sink = 0;
  const budget = { budgetMs: opts.timeMs, minSamples: opts.quick ? 3 : 5 };

  process.stderr.write(`bench: ${rows.length} rows x ${opts.sizes.length} sizes (${opts.sizes.map(fmtSize).join(', ')})${opts.quick ? ', quick mode' : ''}\n`);
  try {
    for (const n of opts.sizes) {
      const x = new Float32Array(n), dy = new Float32Array(n), out = new Float32Array(n);
      fillRandom(x, 12345 + n);
      fillRandom(dy, 777 + n);
      let dev = null;
      if (cudaOk) {
        const xd = arelu.cuda.upload(x), dyd = arelu.cuda.upload(dy), od = arelu.cuda.alloc(n);
        const sync = typeof arelu.cuda.synchronize === 'function' ? () => arelu.cuda.synchronize({ device: 0 }) : () => nativeCuda.synchronize(0);
        dev = { xd, dyd, od, sync, free() { xd.free(); dyd.free(); od.free(); } };
      }
      const lays = new Map(layouts.map((l) => [l, l ? layoutFor(n, l) : null]));
      const pcParams = new Map();
      for (const [l, lay] of lays) {
        if (!lay) continue;
        const A = new Float32Array(lay.C), B = new Float32Array(lay.C);
        for (let c = 0; c < lay.C; c++) { A[c] = 0.1 + 0.8 * c / lay.C; B[c] = 0.5 + 2 * c / lay.C; }
        const Aj = A.map((v) => clampAlpha(v)), S = Float64Array.from(B, (v) => sigmoid(v));
        const Bj = Float32Array.from(S, (s) => 1 + s);
        pcParams.set(l, { A, B, Aj, Bj, sums: new Float64Array(2 * lay.C) });
      }
      const paramsFor = (l) => (l ? { alpha: pcParams.get(l).A, beta: pcParams.get(l).B } : { alpha, beta });
      const optsFor = (l, o) => (l ? { out: o, shape: lays.get(l).shape, channelAxis: lays.get(l).channelAxis } : { out: o });

      for (const r of rows) {
        if (r.maxN && n > r.maxN) continue;
        const lay = r.layout ? lays.get(r.layout) : null;
        const p = paramsFor(r.layout);
        const o = optsFor(r.layout, out);
        let fwd, bwd, sync;
        let tfo = null;
        switch (r.kind) {
          case 'copy':
            if (r.id === 'copy-set') fwd = () => out.set(x);
            else if (r.id === 'copy-parallel') fwd = () => arelu.parallelCopy(out, x);
            else { fwd = () => nativeCuda.copy(dev.od.handle, dev.xd.handle); sync = dev.sync; }
            break;
          case 'arelu-cpu':
          case 'arelu-cpu-isa':
            fwd = () => arelu.forward(x, p, o);
            bwd = () => { sink += r.layout ? arelu.backward(x, dy, p, o).dAlpha[0] : arelu.backward(x, dy, p, o).dAlpha; };
            break;
          case 'js':
            if (!lay) {
              fwd = () => jsForward(x, out, a32, b32);
              bwd = () => { sink += jsBackward(x, dy, out, a32, b32, s64); };
            } else {
              const pc = pcParams.get(r.layout);
              fwd = () => jsForwardPc(x, out, pc.Aj, pc.Bj, lay);
              bwd = () => { sink += jsBackwardPc(x, dy, out, pc.Aj, pc.Bj, lay, pc.sums); };
            }
            break;
          case 'tfjs': {
            tfo = tfjsOps(tfjs.tf, n, lay, lay ? pcParams.get(r.layout).A : alpha, lay ? pcParams.get(r.layout).B : beta);
            fwd = () => { sink += tfo.forward(x)[0]; };
            bwd = () => { sink += tfo.backward(x, dy)[0]; };
            break;
          }
          case 'arelu-cuda': {
            const od = { ...optsFor(r.layout, dev.od) };
            fwd = () => arelu.forward(dev.xd, p, od);
            bwd = () => { const g = arelu.backward(dev.xd, dev.dyd, p, od); sink += r.layout ? g.dAlpha[0] : g.dAlpha; };
            sync = dev.sync;
            break;
          }
          case 'arelu-cuda-host': {
            const od = { ...optsFor(r.layout, dev.od) };
            fwd = () => { const xd = arelu.cuda.upload(x); arelu.forward(xd, p, od); dev.od.download(out); xd.free(); };
            bwd = () => {
              const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
              const g = arelu.backward(xd, gd, p, od);
              dev.od.download(out); xd.free(); gd.free();
              sink += r.layout ? g.dAlpha[0] : g.dAlpha;
            };
            break;
          }
          default: throw new Error(`unknown row kind ${r.kind}`);
        }
        if (r.isa) arelu.setCpuIsa(r.isa);
        if (r.threads) arelu.setNumThreads(r.threads);
        try {
          const ops = r.kind === 'copy' ? [['copy', fwd]] : [['forward', fwd], ['backward', bwd]];
          for (const [op, fn] of ops) {
            const m = measure(fn, { ...budget, sync });
            const bytes = (op === 'backward' ? 12 : 8) * n;
            measurements.push({ row: r.id, op, n, bytes, ...m, gbps: bytes / (m.medianMs * 1e6) });
            progress.step(`${op} ${fmtSize(n)}: ${r.label}`);
          }
        } finally {
          if (tfo) tfo.dispose();
          restore();
        }
      }
      if (dev) dev.free();
    }

    // Inputs of n elements and the forward/backward calls (preallocated out)
    // for one layout, as the paired ratios below time them against a copy.
    const pairedCase = (n) => {
      const x = new Float32Array(n), dy = new Float32Array(n), out = new Float32Array(n), dst = new Float32Array(n);
      fillRandom(x, 12345 + n); fillRandom(dy, 777 + n);
      const calls = (lay) => {
        const L = lay ? layoutFor(n, lay) : null;
        const p = L ? { alpha: new Float32Array(L.C).fill(0.5), beta: new Float32Array(L.C).fill(1) } : { alpha, beta };
        const o = L ? { out, shape: L.shape, channelAxis: L.channelAxis } : { out };
        return { forward: () => arelu.forward(x, p, o), backward: () => { arelu.backward(x, dy, p, o); } };
      };
      return { x, dst, calls };
    };

    // ---- SPEC §7 CPU ratios at the largest size, copy and arelu timed back to back.
    const paired = [];
    {
      const n = Math.max(...opts.sizes);
      const { x, dst, calls } = pairedCase(n);
      for (const lay of layouts) {
        const call = calls(lay);
        for (const op of ['forward', 'backward']) {
          const f = call[op];
          const ref = measurements.find((m) => m.row === `arelu-cpu-auto${lay ? `-${lay}` : ''}` && m.op === op && m.n === n);
          const k = Math.max(1, Math.ceil(Math.min(1, opts.timeMs / 20) / ref.medianMs));
          for (const copyRow of ['copy-set', 'copy-parallel']) {
            const c = copyRow === 'copy-set' ? () => dst.set(x) : () => arelu.parallelCopy(dst, x);
            const pr = pairedRatio(f, c, { rounds: opts.quick ? 3 : 9, k });
            paired.push({ layout: lay, op, n, copyRow, ...pr });
            progress.step(`SPEC ratio ${op} ${lay || ''} vs ${copyRow}`);
          }
        }
      }
    }

    // ---- SPEC §7 ratios at the cache-resident sizes (16K-1M), with one
    // thread and with all threads, each against TypedArray.set of the same n.
    const cacheRatios = [];
    for (const n of opts.sizes.filter((s) => s >= CACHE_MIN && s <= CACHE_MAX)) {
      const { x, dst, calls } = pairedCase(n);
      for (const lay of layouts) {
        const call = calls(lay);
        for (const threads of [...new Set([1, allThreads])]) {
          arelu.setNumThreads(threads);
          for (const op of ['forward', 'backward']) {
            const f = call[op];
            const row = `arelu-cpu-auto${threads === 1 ? '-1t' : ''}${lay ? `-${lay}` : ''}`;
            const ref = measurements.find((m) => m.row === row && m.op === op && m.n === n);
            const k = Math.max(1, Math.ceil(Math.min(1, opts.timeMs / 20) / ref.medianMs));
            const pr = pairedRatio(f, () => dst.set(x), { rounds: opts.quick ? 3 : 15, k });
            const scale = op === 'backward' ? 1.5 : 1;
            const target = cacheTarget(op, n);
            const ratio = pr.median / scale;
            cacheRatios.push({
              layout: lay, op, n, threads, row, copyRow: 'copy-set', ratio, ratioRange: [pr.min / scale, pr.max / scale],
              rounds: pr.rounds, batch: pr.batch, target, pass: target === null ? null : ratio <= target,
            });
            progress.step(`cache ratio ${op} ${fmtSize(n)} ${lay || ''} ${threads}t`);
          }
        }
        restore();
      }
    }

    // ---- sync call overhead at 1K elements (see the report text for the method).
    const overhead = {};
    {
      arelu.setNumThreads(1);
      const n1 = 1024, n2 = 16384;
      const xs = new Float32Array(n2), gs = new Float32Array(n2), os2 = new Float32Array(n2);
      fillRandom(xs, 99); fillRandom(gs, 98);
      const x1 = xs.subarray(0, n1), g1 = gs.subarray(0, n1), o1 = os2.subarray(0, n1);
      const b = { budgetMs: Math.max(opts.timeMs * 2, 30), minSamples: 9 };
      for (const op of ['forward', 'backward']) {
        const call = (xx, gg, oo) => (op === 'forward' ? () => arelu.forward(xx, { alpha, beta }, { out: oo }) : () => { sink += arelu.backward(xx, gg, { alpha, beta }, { out: oo }).dAlpha; });
        const t1 = measure(call(x1, g1, o1), b).medianMs;
        progress.step(`call overhead ${op} 1K`);
        const t2 = measure(call(xs, gs, os2), b).medianMs;
        progress.step(`call overhead ${op} 16K`);
        const perElem = (t2 - t1) / (n2 - n1);
        overhead[op] = {
          callMs1K: t1, callMs16K: t2, workMsPerElement: perElem,
          workMs1K: perElem * n1, overheadMs: t1 - perElem * n1,
        };
      }
      overhead.method = 'one thread, preallocated out, scalar parameters, data in cache; per-call medians at 1K and 16K elements ' +
        '(both below the serial threshold, so one code path); work time per element = slope between the two; ' +
        'overhead = t(1K) - 1024 x slope (the intercept of that line: validation, N-API crossing, dispatch)';
      restore();
    }

    progress.end();
    const run = buildReport({ opts, arelu, info0, autoIsa, rows, measurements, tfjs, cudaOk, cudaReason, overhead, layouts, paired, cacheRatios });
    if (sink === 0.123456789) console.log(''); // keeps the results observable
    printReport(run);
    if (opts.json) {
      fs.mkdirSync(path.dirname(path.resolve(opts.json)), { recursive: true });
      fs.writeFileSync(opts.json, JSON.stringify(run, null, 2) + '\n');
      process.stderr.write(`bench: wrote ${opts.json}\n`);
    }
    if (opts.svg) {
      const m = run.machine;
      const subtitle = `${m.cpuModel}, ${m.threads} threads, ISA ${m.isa}${m.gpus.length ? `; GPU ${m.gpus.map((g) => g.name).join(', ')}` : '; no GPU'}; ` +
        `${opts.perChannel ? `per-channel (${opts.perChannel.join(', ')})` : 'scalar parameters'}; medians; ${run.date.slice(0, 10)}${opts.quick ? ' (quick mode)' : ''}`;
      fs.mkdirSync(path.dirname(path.resolve(opts.svg)), { recursive: true });
      fs.writeFileSync(opts.svg, renderSvg(run, { subtitle }));
      process.stderr.write(`bench: wrote ${opts.svg}\n`);
    }
  } finally {
    restore();
  }
  return 0;
}

// ---------------------------------------------------------------- report

function buildReport({ opts, info0, autoIsa, rows, measurements, tfjs, cudaOk, cudaReason, overhead, layouts, paired, cacheRatios }) {
  const find = (row, op, n) => measurements.find((m) => m.row === row && m.op === op && m.n === n);
  const bestCopy = (n, backend) => {
    const c = measurements.filter((m) => m.op === 'copy' && m.n === n && rows.find((r) => r.id === m.row).backend === backend);
    return c.length ? c.reduce((a, b) => (a.medianMs <= b.medianMs ? a : b)) : null;
  };
  // Derived columns: fraction of the best copy bandwidth of the same backend
  // (host copies for CPU/JS/tfjs rows, device copy for CUDA rows), speedups.
  for (const m of measurements) {
    const r = rows.find((x) => x.id === m.row);
    const c = bestCopy(m.n, r.backend === 'cuda' ? 'cuda' : 'cpu');
    m.ofCopy = c ? m.gbps / c.gbps : null;
    m.copyRef = c ? c.row : null;
    if (m.op === 'copy') continue;
    const sfx = r.layout ? `-${r.layout}` : '';
    const js = find(`js-loop${sfx}`, m.op, m.n), tf = find(`tfjs-cpu${sfx}`, m.op, m.n);
    m.speedupVsJs = js ? js.medianMs / m.medianMs : null;
    m.speedupVsTfjs = tf ? tf.medianMs / m.medianMs : null;
  }

  // SPEC §7 ratios at the largest size, for the auto-ISA all-threads rows.
  const nMax = Math.max(...opts.sizes);
  const spec = [];
  for (const lay of layouts) {
    const sfx = lay ? `-${lay}` : '';
    for (const op of ['forward', 'backward']) {
      const a = find(`arelu-cpu-auto${sfx}`, op, nMax);
      if (!a) continue;
      const scale = op === 'backward' ? 1.5 : 1;
      for (const copyRow of ['copy-set', 'copy-parallel']) {
        const c = find(copyRow, 'copy', nMax);
        const pr = paired.find((x) => x.layout === lay && x.op === op && x.copyRow === copyRow);
        if (!c || !pr) continue;
        const ratio = pr.median / scale;
        spec.push({
          backend: 'cpu', layout: lay, op, n: nMax, row: a.row, copyRow, ratio, target: 1.25, pass: ratio <= 1.25,
          ratioRange: [pr.min / scale, pr.max / scale], rounds: pr.rounds, batch: pr.batch,
          ratioFromMedians: a.medianMs / (scale * c.medianMs),
        });
      }
    }
    if (cudaOk) {
      for (const op of ['forward', 'backward']) {
        const a = find(`arelu-cuda-device${sfx}`, op, nMax), c = find('copy-device', 'copy', nMax);
        if (!a || !c) continue;
        const frac = a.gbps / c.gbps, target = op === 'forward' ? 0.9 : 0.85;
        spec.push({ backend: 'cuda', layout: lay, op, n: nMax, row: a.row, copyRow: 'copy-device', fractionOfCopyBandwidth: frac, target, pass: frac >= target });
      }
    }
  }
  const cpus = os.cpus();
  return {
    schema: 'arelu-bench/1',
    date: new Date().toISOString(),
    command: ['arelu', 'bench', ...process.argv.slice(2)].join(' '),
    options: { sizes: opts.sizes, perChannel: opts.perChannel, quick: opts.quick, timeMsPerMeasurement: opts.timeMs, tfjsMax: opts.tfjsMax },
    definitions: {
      bytes: 'forward 8 bytes/element (read x, write y); backward 12 (read x and dy, write dx); copy 8 (read, write)',
      gbps: 'bytes / median time, 1 GB = 1e9 bytes',
      ofCopy: 'GB/s of the row / GB/s of the fastest copy of the same backend at the same size (host: TypedArray.set or parallelCopy; GPU: device-to-device copy)',
      specRatioForward: 't_forward(n) / t_copy(n), target <= 1.25',
      specRatioBackward: 't_backward(n) / (1.5 * t_copy(n)), target <= 1.25',
      specRatioMethod: 'ratio: median over rounds of (arelu time / copy time), the two timed back to back in alternating order, auto ISA, all threads, largest size; ratioFromMedians: the same from the separate medians of the table',
      specCache: 'cacheRatios: the same paired ratios against TypedArray.set at every size from 16K to 1M elements, with 1 thread and with all threads; ' +
        'targets (SPEC §7, issue 11): backward <= 2.0 below 64K and <= 1.5 from 64K to 1M, forward <= 1.25 from 64K (none below)',
      specGpu: 'GB/s of device-resident forward (backward) / device copy GB/s, targets >= 0.90 (0.85)',
      timing: 'median of repeated samples after warm-up; tiny calls timed in batches (sample = batch time / batch)',
    },
    machine: {
      cpuModel: cpus.length ? cpus[0].model.trim() : 'unknown',
      cpuCount: cpus.length,
      availableParallelism: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
      totalMemory: os.totalmem(),
      platform: process.platform, arch: process.arch, node: process.version,
      areluVersion: info0.version, isa: autoIsa, isasSupported: info0.isasSupported, threads: info0.threads,
      serialBelow: info0.serialBelow,
      cuda: { compiled: info0.cuda.compiled, available: cudaOk, reason: cudaReason },
      gpus: info0.cuda.devices || [],
      tfjs: tfjs.tf ? { version: tfjs.version, backend: 'cpu' } : { absent: tfjs.reason },
    },
    rows,
    measurements,
    spec,
    cacheRatios,
    callOverhead: overhead,
    absent: [
      ...(cudaOk ? [] : [{ backend: 'cuda', reason: cudaReason }]),
      ...(tfjs.tf ? [] : [{ backend: 'tfjs', reason: tfjs.reason }]),
    ],
  };
}

function printReport(run) {
  const log = (s = '') => process.stdout.write(s + '\n');
  const m = run.machine;
  log(`arelu ${m.areluVersion} bench, ${run.date}`);
  log(`machine: ${m.cpuModel}, ${m.cpuCount} CPUs; arelu ISA ${m.isa} (supported: ${m.isasSupported.join(', ')}), ${m.threads} threads; node ${m.node}`);
  log(`GPU: ${m.cuda.available ? m.gpus.map((g) => `${g.name} (sm_${g.computeCapability.replace('.', '')})`).join(', ') : `none used: ${m.cuda.reason}`}`);
  log(`tfjs: ${m.tfjs.absent ? `absent: ${m.tfjs.absent}` : `${m.tfjs.version}, cpu backend`}`);
  log(`params: ${run.options.perChannel ? `per channel, ${run.options.perChannel.join(' and ').toUpperCase()} (64 channels where the size allows)` : 'scalar alpha = 0.9, beta = 2.0'}; preallocated outputs`);
  log('');
  const rowsById = new Map(run.rows.map((r) => [r.id, r]));
  const labelW = Math.max(...run.rows.map((r) => r.label.length)) + 2;
  for (const op of ['forward', 'backward']) {
    log(`== ${op} (${op === 'forward' ? 8 : 12} bytes/element; copy rows move 8 bytes/element)`);
    log(`${pad('size', 6)}${pad('row', labelW)}${pad('median', 10, true)}${pad('GB/s', 9, true)}${pad('of copy', 9, true)}${pad('vs JS', 9, true)}${pad('vs tfjs', 9, true)}`);
    for (const n of run.options.sizes) {
      let first = true;
      for (const r of run.rows) {
        const x = run.measurements.find((mm) => mm.row === r.id && mm.n === n && (mm.op === op || mm.op === 'copy'));
        if (!x) continue;
        log(`${pad(first ? fmtSize(n) : '', 6)}${pad(r.label, labelW)}${pad(fmtMs(x.medianMs), 10, true)}${pad(x.gbps.toFixed(2), 9, true)}` +
          `${pad(x.ofCopy == null ? '-' : x.ofCopy.toFixed(2), 9, true)}${pad(x.op === 'copy' ? '' : fmtX(x.speedupVsJs), 9, true)}${pad(x.op === 'copy' ? '' : fmtX(x.speedupVsTfjs), 9, true)}`);
        first = false;
      }
    }
    log('');
  }
  log('"of copy": GB/s over the fastest copy of the same backend at that size; "vs": time of that baseline / time of the row.');
  log('');
  log('== summary');
  const nMax = Math.max(...run.options.sizes);
  const byRow = (id, op) => run.measurements.find((x) => x.row === id && x.op === op && x.n === nMax);
  for (const lay of run.options.perChannel || [null]) {
    const sfx = lay ? `-${lay}` : '';
    const L = lay ? ` ${lay.toUpperCase()}` : '';
    const parts = ['forward', 'backward'].map((op) => {
      const a = byRow(`arelu-cpu-auto${sfx}`, op);
      if (!a) return `${op} -`;
      const sp = run.spec.filter((s) => s.backend === 'cpu' && s.layout === lay && s.op === op);
      const rs = sp.map((s) => `${s.ratio.toFixed(2)} vs ${s.copyRow === 'copy-set' ? 'set' : 'parallelCopy'} ${s.pass ? 'ok' : 'MISSED'}`).join(', ');
      const tfm = run.measurements.filter((x) => x.row === `arelu-cpu-auto${sfx}` && x.op === op && x.speedupVsTfjs != null);
      const tfLast = tfm.length ? tfm[tfm.length - 1] : null;
      return `${op} ${a.gbps.toFixed(1)} GB/s (SPEC ratio ${rs}; ${fmtX(a.speedupVsJs)} JS loop` +
        `${tfLast ? `, ${fmtX(tfLast.speedupVsTfjs)} tfjs at ${fmtSize(tfLast.n)}` : ''})`;
    });
    log(`CPU${L} (${rowsById.get(`arelu-cpu-auto${sfx}`).label}), ${fmtSize(nMax)} elements: ${parts.join('; ')}`);
  }
  log(`  SPEC ratios (target <= 1.25): forward t_fwd / t_copy, backward t_bwd / (1.5 t_copy), copy of the same n elements; ` +
    `median of ${run.spec.find((x) => x.rounds) ? run.spec.find((x) => x.rounds).rounds : '-'} rounds timing arelu and the copy back to back`);
  if (run.cacheRatios.length) {
    log(`cache-resident SPEC ratios vs TypedArray.set (median of ${run.cacheRatios[0].rounds} back-to-back rounds; targets: backward 2.0 below 64K, 1.5 from 64K; forward 1.25 from 64K):`);
    for (const lay of run.options.perChannel || [null]) {
      for (const n of [...new Set(run.cacheRatios.map((c) => c.n))]) {
        const cs = run.cacheRatios.filter((c) => c.layout === lay && c.n === n);
        const txt = cs.map((c) => `${c.op === 'forward' ? 'fwd' : 'bwd'} ${c.threads}t ${c.ratio.toFixed(2)}${c.pass === null ? '' : c.pass ? ' ok' : ' MISSED'}`).join(', ');
        log(`  ${pad(fmtSize(n), 5)}${lay ? ` ${lay.toUpperCase()}` : ''}: ${txt}`);
      }
    }
  }
  if (m.cuda.available) {
    for (const lay of run.options.perChannel || [null]) {
      const sfx = lay ? `-${lay}` : '';
      const parts = ['forward', 'backward'].map((op) => {
        const a = byRow(`arelu-cuda-device${sfx}`, op), h = byRow(`arelu-cuda-host${sfx}`, op);
        const sp = run.spec.find((s) => s.backend === 'cuda' && s.layout === lay && s.op === op);
        const cpu = byRow(`arelu-cpu-auto${sfx}`, op);
        return a ? `${op} ${a.gbps.toFixed(0)} GB/s device-resident = ${sp ? `${(sp.fractionOfCopyBandwidth * 100).toFixed(0)}% of device copy (target ${sp.target * 100}%: ${sp.pass ? 'ok' : 'MISSED'})` : '-'}` +
          `, ${cpu ? fmtX(cpu.medianMs / a.medianMs) : '-'} CPU; with transfers ${h ? `${h.gbps.toFixed(1)} GB/s` : '-'}` : `${op} -`;
      });
      log(`CUDA${lay ? ` ${lay.toUpperCase()}` : ''} (${m.gpus.map((g) => g.name).join(', ')}), ${fmtSize(nMax)} elements: ${parts.join('; ')}`);
    }
  } else {
    log(`CUDA: no rows: ${m.cuda.reason}`);
  }
  if (m.tfjs.absent) log(`tfjs: no rows: ${m.tfjs.absent}`);
  const o = run.callOverhead;
  if (o && o.forward) {
    log(`call overhead (sync, 1K elements): forward ${fmtMs(o.forward.callMs1K)} per call = ${fmtMs(o.forward.workMs1K)} work + ${fmtMs(o.forward.overheadMs)} overhead; ` +
      `backward ${fmtMs(o.backward.callMs1K)} = ${fmtMs(o.backward.workMs1K)} + ${fmtMs(o.backward.overheadMs)} (SPEC: overhead < 2us)`);
    log(`  method: ${o.method}`);
  }
}

if (require.main === module) {
  main().then((code) => { process.exitCode = code; }, (e) => {
    console.error(`arelu bench: ${e && e.stack ? e.stack : e}`);
    process.exitCode = 1;
  });
}

module.exports = { parseArgs, layoutFor, measure };
