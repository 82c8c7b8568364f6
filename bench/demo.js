#!/usr/bin/env node
'use strict';
// `arelu demo` / `npm run demo`: the paper's MNIST experiment (Chen, Li, Xu,
// "AReLU", arXiv 2006.13858; authors' ConvMNIST) in Node with TensorFlow.js and
// the arelu op: test accuracy after each epoch, AReLU vs ReLU, SGD with
// momentum at small learning rates, mean ± sd over seeds. Runs on tfjs-node's
// `tensorflow` backend when @tensorflow/tfjs-node loads (native convolutions),
// else on @tensorflow/tfjs' cpu backend (with two replacement kernels there).
// Also times an epoch with the native op against the same model with AReLU
// written in tfjs ops.
const { compositeAReLULayer } = require('./lib/tfjs-composite');
const { renderDemoSvg } = require('./lib/chart');
const fs = require('fs');
const path = require('path');

const USAGE = `Usage: arelu demo [options]      (npm run demo -- [options])

  --lr LIST          learning rates, comma separated        (default 1e-2,1e-3)
  --epochs N         epochs per run                         (default 2)
  --seeds N          seeds per (activation, lr); mean ± sd shown
                                                            (default 3 on tfjs-node, 1 on the cpu backend)
  --backend B        auto, tensorflow (tfjs-node) or cpu     (default auto: tfjs-node if it loads)
  --act LIST         activations: AReLU, ReLU, AReLU-composite (AReLU in tfjs ops)
                                                            (default AReLU,ReLU)
  --train N          training images (of the 8000 of the fixed 80/20 split)
  --test N           test images (of the 2000)
  --batch N          batch size                             (default 128)
  --timing-epochs N  epochs timed for the native op vs the composite (default 1, 0 = skip)
  --quick            1 epoch, 128 training and 200 test images (a smoke test)
  --json FILE        write the results as JSON
  --svg FILE         write accuracy curves as SVG
  --no-progress      no progress bar on stderr
  -h, --help         this text`;

function parseArgs(argv) {
  const o = {
    lr: [1e-2, 1e-3], epochs: 2, seeds: null, backend: 'auto', act: ['AReLU', 'ReLU'], train: 8000, test: 2000, batch: 128,
    timingEpochs: 1, quick: false, json: null, svg: null, progress: true,
  };
  const given = new Set();
  const num = (name, v, integer = true) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0 && name !== 'timing-epochs' || n < 0 || integer && !Number.isInteger(n))
      throw new RangeError(`Expected --${name} to be a ${integer ? 'positive integer' : 'positive number'}, but received ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const val = () => (inline !== undefined ? inline : argv[++i]);
    given.add(flag);
    switch (flag) {
      case '--lr': o.lr = String(val()).split(',').map((s) => num('lr', s, false)); break;
      case '--epochs': o.epochs = num('epochs', val()); break;
      case '--seeds': o.seeds = num('seeds', val()); break;
      case '--backend': {
        o.backend = String(val());
        if (!['auto', 'tensorflow', 'cpu'].includes(o.backend))
          throw new RangeError(`Expected --backend to be auto, tensorflow or cpu, but received ${o.backend}`);
        break;
      }
      case '--act': {
        o.act = String(val()).split(',').map((s) => s.trim());
        for (const a of o.act) if (!['AReLU', 'ReLU', 'AReLU-composite'].includes(a))
          throw new RangeError(`Expected --act to list AReLU, ReLU or AReLU-composite, but received ${a}`);
        break;
      }
      case '--train': o.train = Math.min(8000, num('train', val())); break;
      case '--test': o.test = Math.min(2000, num('test', val())); break;
      case '--batch': o.batch = num('batch', val()); break;
      case '--timing-epochs': o.timingEpochs = num('timing-epochs', val()); break;
      case '--quick': o.quick = true; break;
      case '--json': o.json = val(); break;
      case '--svg': o.svg = val(); break;
      case '--no-progress': o.progress = false; break;
      case '-h': case '--help': o.help = true; break;
      default: throw new RangeError(`Unknown option ${a}\n\n${USAGE}`);
    }
  }
  if (o.quick) {
    if (!given.has('--epochs')) o.epochs = 1;
    if (!given.has('--train')) o.train = 128;
    if (!given.has('--test')) o.test = 200;
  }
  return o;
}

// Deterministic pseudo-random numbers (mulberry32): the split, the shuffles and the initial weights.
const rng = require('./lib/rng').mulberry32;
function shuffle(n, seed) {
  const r = rng(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

const SPLIT_SEED = 20200624; // fixed: every run sees the same 8000/2000 split

// The 10,000 digits the `mnist` package ships (pixels in 0..1), split 80/20 with a fixed seed.
function loadMnist(nTrain, nTest) {
  const images = [];
  for (let d = 0; d < 10; d++) {
    const raw = require(`mnist/src/digits/${d}.json`).data;
    const n = Math.floor(raw.length / 784);
    for (let i = 0; i < n; i++) images.push([d, raw, i * 784]);
  }
  const perm = shuffle(images.length, SPLIT_SEED);
  const cut = Math.round(images.length * 0.8);
  const take = (from, count) => {
    const x = new Float32Array(count * 784);
    const y = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      const [label, raw, off] = images[perm[from + k]];
      for (let j = 0; j < 784; j++) x[k * 784 + j] = raw[off + j];
      y[k] = label;
    }
    return { x, y, n: count };
  };
  return { total: images.length, train: take(0, Math.min(nTrain, cut)), test: take(cut, Math.min(nTest, images.length - cut)) };
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`arelu demo: ${e.message}`);
    return 2;
  }
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  return run(o).then(() => 0);
}

function requireOptional(name) {
  try {
    return require(name);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(name))
      throw new Error(`the demo needs the packages @tensorflow/tfjs and mnist (not dependencies of arelu): npm install @tensorflow/tfjs mnist`);
    throw e;
  }
}

// tfjs-node (the `tensorflow` backend) when it loads and is not ruled out, else
// @tensorflow/tfjs on the cpu backend. Returns the module and why tfjs-node is not used.
async function loadTfjs(want) {
  let why = 'not tried (--backend cpu)';
  if (want !== 'cpu') {
    try {
      const tf = require('@tensorflow/tfjs-node');
      if (await tf.setBackend('tensorflow')) return { tf, why: null };
      why = 'its tensorflow backend did not initialize';
    } catch (e) {
      why = String(e && e.message || e).split('\n')[0];
    }
    if (want === 'tensorflow') throw new Error(`--backend tensorflow: @tensorflow/tfjs-node does not load here (${why})`);
  }
  const tf = requireOptional('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  return { tf, why };
}

async function run(o) {
  requireOptional('mnist/package.json');
  const { tf, why: noTfjsNode } = await loadTfjs(o.backend);
  const backendName = tf.getBackend();
  if (o.seeds === null) o.seeds = o.quick || backendName !== 'tensorflow' ? 1 : 3;
  const arelu = require('../dist/index');
  const { registerTfjs } = require('../dist/tfjs');
  const registered = registerTfjs(tf);
  const { AReLU } = registered;

  // AReLU as a user would write it in tfjs ops: the timing baseline.
  const CompositeAReLU = compositeAReLULayer(tf);

  // tfjs' cpu backend needs two replacement kernels to train in minutes; tfjs-node's are native.
  const patched = backendName === 'cpu' ? [patchConv2DBackpropFilter(tf), patchMaxPoolGrad(tf)].filter(Boolean) : [];

  const activation = (act) => (act === 'AReLU' ? new AReLU() : act === 'ReLU' ? tf.layers.reLU() : new CompositeAReLU());

  // ConvMNIST of the authors' code, channels-last.
  function buildModel(act, seed) {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 10, kernelSize: 5 }),
        tf.layers.maxPooling2d({ poolSize: 2 }), activation(act),
        tf.layers.conv2d({ filters: 20, kernelSize: 5 }),
        tf.layers.maxPooling2d({ poolSize: 2 }), activation(act),
        tf.layers.conv2d({ filters: 40, kernelSize: 3 }),
        tf.layers.maxPooling2d({ poolSize: 2 }), activation(act),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10 }),
      ],
    });
    // PyTorch's default init: weights and biases uniform in ±1/sqrt(fan_in),
    // from one seeded stream, so that every activation starts from the same weights.
    const r = rng(seed * 7919 + 1);
    for (const layer of model.layers) {
      const ws = layer.getWeights();
      if (ws.length !== 2 || !['Conv2D', 'Dense'].includes(layer.getClassName())) continue;
      const [k, b] = ws;
      const fanIn = k.shape.slice(0, -1).reduce((p, d) => p * d, 1);
      const bound = 1 / Math.sqrt(fanIn);
      const uni = (n) => Float32Array.from({ length: n }, () => (2 * r() - 1) * bound);
      const init = [tf.tensor(uni(k.size), k.shape), tf.tensor(uni(b.size), b.shape)];
      layer.setWeights(init); // copies; getWeights() gave the live variables, which stay
      tf.dispose(init);
    }
    return model;
  }

  function batchTensors(set, idx, from, to) {
    const n = to - from;
    const x = new Float32Array(n * 784);
    const y = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      const i = idx ? idx[from + k] : from + k;
      x.set(set.x.subarray(i * 784, i * 784 + 784), k * 784);
      y[k] = set.y[i];
    }
    return [tf.tensor4d(x, [n, 28, 28, 1]), tf.tensor1d(y, 'int32')];
  }

  function accuracy(model, set) {
    let correct = 0;
    for (let from = 0; from < set.n; from += 500) {
      const to = Math.min(set.n, from + 500);
      correct += tf.tidy(() => {
        const [x, y] = batchTensors(set, null, from, to);
        return tf.sum(tf.cast(tf.equal(tf.argMax(model.predict(x), -1), y), 'int32')).dataSync()[0];
      });
    }
    return correct / set.n;
  }

  // One epoch of SGD with momentum; returns the training time in ms (evaluation excluded).
  function trainEpoch(model, opt, vars, set, seed, epoch, onBatch) {
    const perm = shuffle(set.n, seed * 100003 + epoch + 1);
    const batches = Math.ceil(set.n / o.batch);
    let loss = 0;
    const t0 = process.hrtime.bigint();
    for (let b = 0; b < batches; b++) {
      const from = b * o.batch, to = Math.min(set.n, from + o.batch);
      const l = tf.tidy(() => {
        const [x, y] = batchTensors(set, perm, from, to);
        // log-softmax + negative log-likelihood, averaged over the batch
        return opt.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), model.apply(x, { training: true })), true, vars);
      });
      loss += l.dataSync()[0] * (to - from);
      l.dispose();
      onBatch(b + 1, batches);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { ms, loss: loss / set.n };
  }

  function trainRun(act, lr, seed, epochs, data, progress) {
    const model = buildModel(act, seed);
    const opt = tf.train.momentum(lr, 0.9);
    const vars = model.trainableWeights.map((w) => w.read());
    const acc0 = accuracy(model, data.test);
    const acc = [], epochMs = [], loss = [];
    for (let e = 0; e < epochs; e++) {
      const r = trainEpoch(model, opt, vars, data.train, seed, e, (b, n) => progress(e, b, n));
      epochMs.push(r.ms);
      loss.push(r.loss);
      acc.push(accuracy(model, data.test));
    }
    const params = act === 'ReLU' ? null : model.layers.filter((l) => l.getClassName() === act.replace('-composite', '') || l instanceof CompositeAReLU)
      .map((l) => l.getWeights().map((w) => w.dataSync()[0]));
    model.dispose();
    opt.dispose();
    return { acc0, acc, epochMs, loss, params };
  }

  // ---- run -------------------------------------------------------------------
  const t0 = Date.now();
  const data = loadMnist(o.train, o.test);
  const jobs = [];
  for (const lr of o.lr) for (const act of o.act) for (let s = 0; s < o.seeds; s++) jobs.push({ act, lr, seed: s });
  const timingJobs = o.timingEpochs > 0 ? ['AReLU-composite', 'AReLU'] : [];
  const totalEpochs = jobs.length * o.epochs + timingJobs.length * o.timingEpochs;
  let doneEpochs = 0;
  const bar = (label, e, b, n) => {
    if (!o.progress) return;
    const frac = (doneEpochs + (e + b / n)) / totalEpochs;
    const w = 30, fill = Math.round(frac * w);
    const el = (Date.now() - t0) / 1000;
    const eta = frac > 0 ? el / frac - el : 0;
    const line = `[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${(100 * frac).toFixed(0).padStart(3)}% ${label} epoch ${e + 1} batch ${b}/${n}  ${el.toFixed(0)}s, ~${eta.toFixed(0)}s left`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100)}`);
    else if (b === n) process.stderr.write(`${line}\n`);
  };

  const runs = [];
  for (const j of jobs) {
    const label = `${j.act} lr=${j.lr} seed=${j.seed}`;
    const r = trainRun(j.act, j.lr, j.seed, o.epochs, data, (e, b, n) => bar(label, e, b, n));
    doneEpochs += o.epochs;
    runs.push({ ...j, ...r });
  }

  // Time per epoch: the native op against AReLU in tfjs ops, same model, data, seed and lr.
  const timing = {};
  for (const act of timingJobs) {
    const r = trainRun(act, o.lr[o.lr.length - 1], 0, o.timingEpochs, data, (e, b, n) => bar(`timing ${act}`, e, b, n));
    doneEpochs += o.timingEpochs;
    timing[act === 'AReLU' ? 'op' : 'composite'] = { act, epochMs: median(r.epochMs), acc: r.acc };
  }
  if (o.progress && process.stderr.isTTY) process.stderr.write(`\r${' '.repeat(100)}\r`);

  const results = [];
  for (const lr of o.lr) for (const act of o.act) {
    const rs = runs.filter((r) => r.act === act && r.lr === lr);
    const acc = Array.from({ length: o.epochs }, (_, e) => mean(rs.map((r) => r.acc[e])));
    results.push({
      act, lr, seeds: rs.length, acc,
      accStd: Array.from({ length: o.epochs }, (_, e) => std(rs.map((r) => r.acc[e]))),
      accInit: mean(rs.map((r) => r.acc0)),
      accInitStd: std(rs.map((r) => r.acc0)),
      loss: Array.from({ length: o.epochs }, (_, e) => mean(rs.map((r) => r.loss[e]))),
      epochMs: mean(rs.map((r) => mean(r.epochMs))),
      epochMsStd: std(rs.map((r) => mean(r.epochMs))),
      perSeed: rs.map((r) => ({ seed: r.seed, acc: r.acc, epochMs: r.epochMs, params: r.params })),
    });
  }
  const info = arelu.info();
  const out = {
    results,
    patchedKernels: patched,
    timing: timingJobs.length ? { ...timing, lr: o.lr[o.lr.length - 1], epochs: o.timingEpochs, speedup: timing.composite.epochMs / timing.op.epochMs } : null,
    config: {
      model: 'ConvMNIST: conv5x5x10, maxpool2, act, conv5x5x20, maxpool2, act, conv3x3x40, maxpool2, act, flatten, dense10, log-softmax + NLL',
      init: 'PyTorch default: weights and biases uniform in ±1/sqrt(fan_in)',
      optimizer: 'SGD, momentum 0.9', batch: o.batch, epochs: o.epochs, lr: o.lr, seedsPerRun: o.seeds,
      data: `mnist package (${data.total} digits), fixed-seed 80/20 split (seed ${SPLIT_SEED}); ${data.train.n} train, ${data.test.n} test`,
      quick: o.quick,
    },
    environment: {
      node: process.version, tfjs: tf.version.tfjs, backend: backendName,
      tfjsNode: backendName === 'tensorflow' ? { version: tf.version['tfjs-node'], tensorflow: tf.version.tensorflow } : { used: false, why: noTfjsNode },
      // the path AReLU's kernels take on this backend (tf-op or copy), where registerTfjs says so
      areluPath: registered.backends ? registered.backends[backendName] || null : null,
      isa: info.isa, threads: info.threads, cpus: require('os').cpus().length,
    },
    date: new Date().toISOString(),
    totalSeconds: (Date.now() - t0) / 1000,
  };

  console.log(table(out, o));
  if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
  if (o.svg) fs.writeFileSync(o.svg, renderDemoSvg(out));
}

// tfjs 4.22's cpu Conv2DBackpropFilter reads every element through
// TensorBuffer.get(...varargs): here it takes ~90% of a ConvMNIST training step
// (seconds per batch). The demo swaps in the same sum (float64 accumulation)
// over flat typed arrays, for every activation alike, after checking it
// against the original on random data. Only channels-last, dilation 1 (what
// tfjs' conv2d gradient asks for here); anything else goes to the original.
function patchConv2DBackpropFilter(tf) {
  const name = 'Conv2DBackpropFilter';
  const original = tf.getKernel(name, 'cpu');
  if (!original) return null;
  const fast = (args) => {
    const { inputs: { x, dy }, backend, attrs } = args;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
    if (dataFormat !== 'NHWC' && dataFormat !== undefined || x.dtype !== 'float32') return original.kernelFunc(args);
    const ci = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = ci;
    const top = ci.padInfo.top, left = ci.padInfo.left;
    const xv = backend.readSync(x.dataId), dyv = backend.readSync(dy.dataId);
    const acc = new Float64Array(filterHeight * filterWidth * inChannels * outChannels);
    for (let b = 0; b < batchSize; b++)
      for (let yR = 0; yR < outHeight; yR++)
        for (let yC = 0; yC < outWidth; yC++) {
          const dyOff = ((b * outHeight + yR) * outWidth + yC) * outChannels;
          for (let wR = 0; wR < filterHeight; wR++) {
            const xR = yR * strideHeight + wR - top;
            if (xR < 0 || xR >= inHeight) continue;
            for (let wC = 0; wC < filterWidth; wC++) {
              const xC = yC * strideWidth + wC - left;
              if (xC < 0 || xC >= inWidth) continue;
              const xOff = ((b * inHeight + xR) * inWidth + xC) * inChannels;
              let wOff = (wR * filterWidth + wC) * inChannels * outChannels;
              for (let d1 = 0; d1 < inChannels; d1++, wOff += outChannels) {
                const v = xv[xOff + d1];
                if (v === 0) continue;
                for (let d2 = 0; d2 < outChannels; d2++) acc[wOff + d2] += v * dyv[dyOff + d2];
              }
            }
          }
        }
    return backend.makeTensorInfo(ci.filterShape, 'float32', Float32Array.from(acc));
  };
  // Check against the original (same/valid padding, strides 1 and 2) before using it.
  const r = rng(99);
  for (const [xs, fs, st, pd] of [[[2, 9, 8, 3], [3, 3, 3, 4], 1, 'valid'], [[2, 9, 8, 3], [5, 3, 3, 2], 2, 'same'], [[1, 28, 28, 1], [5, 5, 1, 10], 1, 'valid']]) {
    const outs = tf.tidy(() => {
      const x = tf.tensor(Float32Array.from({ length: xs.reduce((a, b) => a * b) }, () => (r() < 0.2 ? 0 : r() - 0.5)), xs);
      const yShape = tf.conv2d(x, tf.zeros(fs), st, pd).shape;
      const dy = tf.tensor(Float32Array.from({ length: yShape.reduce((a, b) => a * b) }, () => r() - 0.5), yShape);
      const attrs = { strides: st, pad: pd, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: fs };
      const backend = tf.backend();
      const a = original.kernelFunc({ inputs: { x, dy }, backend, attrs });
      const b = fast({ inputs: { x, dy }, backend, attrs });
      const va = backend.readSync(a.dataId), vb = backend.readSync(b.dataId);
      backend.disposeData(a.dataId); backend.disposeData(b.dataId);
      let err = 0;
      for (let i = 0; i < va.length; i++) err = Math.max(err, Math.abs(va[i] - vb[i]) / Math.max(1, Math.abs(va[i])));
      return err;
    });
    if (!(outs <= 1e-6)) throw new Error(`the fast ${name} kernel disagrees with tfjs' (relative error ${outs})`);
  }
  tf.unregisterKernel(name, 'cpu');
  tf.registerKernel({ ...original, kernelFunc: fast });
  return `${name} (cpu): typed-array loops, checked against tfjs' own at start`;
}

// Same story for MaxPoolGrad (TensorBuffer.get per element): route each dy to
// the first maximum of its window in scan order, as tfjs' maxPoolPositions does.
function patchMaxPoolGrad(tf) {
  const name = 'MaxPoolGrad';
  const original = tf.getKernel(name, 'cpu');
  if (!original) return null;
  const fast = (args) => {
    const { inputs: { dy, input: x }, backend, attrs } = args;
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    const ci = tf.backend_util.computePool2DInfo(x.shape, filterSize, strides, 1, pad, dimRoundingMode);
    if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1 || x.dtype !== 'float32') return original.kernelFunc(args);
    const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = ci;
    const top = ci.padInfo.top, left = ci.padInfo.left;
    const xv = backend.readSync(x.dataId), dyv = backend.readSync(dy.dataId);
    const dx = new Float32Array(xv.length);
    for (let b = 0; b < batchSize; b++)
      for (let yR = 0; yR < outHeight; yR++)
        for (let yC = 0; yC < outWidth; yC++)
          for (let d = 0; d < inChannels; d++) {
            let best = -Infinity, pos = -1;
            for (let wR = 0; wR < filterHeight; wR++) {
              const xR = yR * strideHeight - top + wR;
              if (xR < 0 || xR >= inHeight) continue;
              for (let wC = 0; wC < filterWidth; wC++) {
                const xC = yC * strideWidth - left + wC;
                if (xC < 0 || xC >= inWidth) continue;
                const i = ((b * inHeight + xR) * inWidth + xC) * inChannels + d;
                if (xv[i] > best) { best = xv[i]; pos = i; }
              }
            }
            if (pos >= 0) dx[pos] += dyv[((b * outHeight + yR) * outWidth + yC) * inChannels + d];
          }
    return backend.makeTensorInfo(x.shape, 'float32', dx);
  };
  const r = rng(98);
  for (const [xs, fsz, st, pd] of [[[2, 8, 8, 3], 2, 2, 'valid'], [[2, 9, 7, 2], 3, 2, 'same'], [[1, 5, 5, 1], 2, 1, 'valid']]) {
    const err = tf.tidy(() => {
      const n = xs.reduce((a, b) => a * b);
      const x = tf.tensor(Float32Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0.25 : Math.round(r() * 8) / 8)), xs); // ties on purpose
      const y = tf.maxPool(x, fsz, st, pd);
      const dy = tf.tensor(Float32Array.from({ length: y.size }, () => r() - 0.5), y.shape);
      const attrs = { filterSize: fsz, strides: st, pad: pd, dimRoundingMode: undefined };
      const backend = tf.backend();
      const a = original.kernelFunc({ inputs: { dy, input: x, output: y }, backend, attrs });
      const b = fast({ inputs: { dy, input: x, output: y }, backend, attrs });
      const va = backend.readSync(a.dataId), vb = backend.readSync(b.dataId);
      backend.disposeData(a.dataId); backend.disposeData(b.dataId);
      let e = 0;
      for (let i = 0; i < va.length; i++) e = Math.max(e, Math.abs(va[i] - vb[i]));
      return e;
    });
    if (!(err <= 1e-6)) throw new Error(`the fast ${name} kernel disagrees with tfjs' (error ${err})`);
  }
  tf.unregisterKernel(name, 'cpu');
  tf.registerKernel({ ...original, kernelFunc: fast });
  return `${name} (cpu): typed-array loops, checked against tfjs' own at start`;
}

function mean(a) { return a.reduce((s, v) => s + v, 0) / a.length; }
function std(a) { const m = mean(a); return a.length > 1 ? Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1)) : 0; }
function median(a) { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }

function table(out, o) {
  const pct = (v) => `${(100 * v).toFixed(1)}%`;
  const rows = [['activation', 'lr', 'seeds', ...out.results[0].acc.map((_, e) => `epoch ${e + 1}`), 'ms/epoch']];
  for (const r of out.results)
    rows.push([r.act, String(r.lr), String(r.seeds), ...r.acc.map((a, e) => pct(a) + (r.seeds > 1 ? ` ± ${(100 * r.accStd[e]).toFixed(1)}` : '')), r.epochMs.toFixed(0)]);
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r) => r.map((v, c) => (c < 1 ? v.padEnd(w[c]) : v.padStart(w[c]))).join('  ');
  const lines = [
    `ConvMNIST on tfjs' ${out.environment.backend} backend, test accuracy after each epoch (${out.results[0].seeds > 1 ? 'mean ± sd over seeds' : 'one seed'}), SGD momentum 0.9, batch ${o.batch}, ${out.config.data}`,
    '', line(rows[0]), w.map((n) => '-'.repeat(n)).join('  '), ...rows.slice(1).map(line),
  ];
  if (out.timing)
    lines.push('', `Time per epoch (lr ${out.timing.lr}, ${out.timing.epochs} epoch(s), median): AReLU op ${out.timing.op.epochMs.toFixed(0)} ms, ` +
      `AReLU in tfjs ops ${out.timing.composite.epochMs.toFixed(0)} ms (${out.timing.speedup.toFixed(2)}x)`);
  return lines.join('\n');
}

Promise.resolve()
  .then(main)
  .then((code) => { process.exitCode = code; })
  .catch((e) => { console.error(`arelu demo: ${e && e.stack || e}`); process.exitCode = 1; });
