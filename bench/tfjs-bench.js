#!/usr/bin/env node
'use strict';
// TensorFlow.js: the arelu op (registerTfjs) against AReLU written in tfjs ops
// (relu(x)*(1+sigmoid(b)) - relu(-x)*clip(a)) on the cpu backend: forward,
// forward+backward (x, alpha, beta), 64K..4M elements; and one training step of
// a small CNN with the AReLU layer against the same CNN with the composite.
// Medians of interleaved repetitions, all in one process.
// With --backend tensorflow: the same on tfjs-node (bench/lib/tfjs-node-rows.js:
// op vs composite vs tf.relu, forward, forward into a TF op, forward+backward,
// and a dense 784-512-10 training step), one process per thread setting.
//
//   node bench/tfjs-bench.js [--reps N] [--sizes 65536,262144,...] [--json FILE]
//   node bench/tfjs-bench.js --backend tensorflow [--tf-configs defaults,1thread,copy,bfc,tcache0] [--step-reps N] [--json FILE]
const { compositeArelu, compositeAReLULayer } = require('./lib/tfjs-composite');
const fs = require('fs');
const os = require('os');

function args(argv) {
  const o = { reps: 9, sizes: null, json: null, cnnReps: 7, backend: 'cpu', configs: ['defaults', '1thread'], stepReps: 15 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = argv[++i];
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--cnn-reps') o.cnnReps = Number(argv[++i]);
    else if (a === '--sizes') o.sizes = argv[++i].split(',').map(Number);
    else if (a === '--backend') o.backend = argv[++i];
    else if (a === '--tf-configs') o.configs = argv[++i].split(',');
    else if (a === '--step-reps') o.stepReps = Number(argv[++i]);
    else if (a === '-h' || a === '--help') {
      console.log('Usage: node bench/tfjs-bench.js [--backend cpu|tensorflow] [--reps N] [--cnn-reps N] [--sizes N,N,...] [--json FILE]\n' +
        '       tensorflow backend (tfjs-node): [--tf-configs defaults,1thread,copy,bfc,tcache0] [--step-reps N]');
      process.exit(0);
    } else {
      console.error(`tfjs-bench: unknown option ${a}`);
      process.exit(2);
    }
  }
  if (o.backend !== 'cpu' && o.backend !== 'tensorflow') { console.error(`tfjs-bench: --backend must be cpu or tensorflow, not ${o.backend}`); process.exit(2); }
  o.sizes = o.sizes || (o.backend === 'cpu' ? [1 << 16, 1 << 18, 1 << 20, 1 << 22] : [1 << 16, 1 << 20, 1 << 22]);
  for (const n of [o.reps, o.cnnReps, o.stepReps, ...o.sizes])
    if (!Number.isInteger(n) || n <= 0) { console.error('tfjs-bench: counts and sizes must be positive integers'); process.exit(2); }
  return o;
}

function median(a) { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }
const now = () => Number(process.hrtime.bigint()) / 1e6;

async function main() {
  const o = args(process.argv.slice(2));
  if (o.backend === 'tensorflow') {
    const { runTensorflowRows } = require('./lib/tfjs-node-rows');
    const configs = runTensorflowRows(o);
    const out = { backend: 'tensorflow', configs, reps: o.reps, stepReps: o.stepReps,
      environment: { node: process.version, cpus: os.cpus().length, loadavg: os.loadavg() }, date: new Date().toISOString() };
    if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const arelu = require('../dist/index');
  const { registerTfjs } = require('../dist/tfjs');
  const { arelu: op, AReLU } = registerTfjs(tf);

  const composite = (x, a, b) => compositeArelu(tf, x, a, b);
  // Interleaved rounds: each round times every variant once, so load shifts hit all alike.
  function race(variants, reps) {
    const t = variants.map(() => []);
    for (let r = 0; r < reps + 1; r++)
      variants.forEach((v, i) => {
        const t0 = now();
        v();
        if (r > 0) t[i].push(now() - t0); // round 0 warms up
      });
    return t.map(median);
  }

  const elementwise = [];
  for (const n of o.sizes) {
    const x = tf.randomNormal([n / 64, 64], 0, 1, 'float32', 1);
    const dy = tf.randomNormal([n / 64, 64], 0, 1, 'float32', 2);
    const a = tf.scalar(0.9), b = tf.scalar(2);
    const fwd = (f) => () => tf.tidy(() => { f(x, a, b).dataSync(); });
    const fb = (f) => () => tf.tidy(() => {
      const g = tf.grads((x, a, b) => f(x, a, b))([x, a, b], dy);
      for (const t of g) t.dataSync();
    });
    const [opF, compF, opFB, compFB] = race([fwd(op), fwd(composite), fb(op), fb(composite)], o.reps);
    elementwise.push({ n, forward: { opMs: opF, compositeMs: compF, speedup: compF / opF }, forwardBackward: { opMs: opFB, compositeMs: compFB, speedup: compFB / opFB } });
    console.log(`${String(n).padStart(8)} elements  forward: op ${opF.toFixed(2)} ms, composite ${compF.toFixed(2)} ms (${(compF / opF).toFixed(2)}x)   ` +
      `forward+backward: op ${opFB.toFixed(2)} ms, composite ${compFB.toFixed(2)} ms (${(compFB / opFB).toFixed(2)}x)`);
    tf.dispose([x, dy, a, b]);
  }

  // A small CNN, one SGD step on a batch of 32 16x16x1 images (small because tfjs'
  // cpu Conv2DBackpropFilter is slow: it dominates any CNN step on this backend).
  const CompositeAReLU = compositeAReLULayer(tf);
  const cnn = (Act) => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        new Act(), tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
        new Act(), tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(), tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    const opt = tf.train.sgd(1e-3);
    const vars = m.trainableWeights.map((w) => w.read());
    return { m, opt, vars };
  };
  const xb = tf.randomUniform([32, 16, 16, 1], 0, 1, 'float32', 3);
  const yb = tf.oneHot(tf.tensor1d(Array.from({ length: 32 }, (_, i) => i % 10), 'int32'), 10);
  const models = [cnn(AReLU), cnn(CompositeAReLU)];
  const step = ({ m, opt, vars }) => () => tf.tidy(() => {
    opt.minimize(() => tf.losses.softmaxCrossEntropy(yb, m.apply(xb, { training: true })), true, vars).dataSync();
  });
  // The share of the activation: forward+backward of just the activations of one step.
  const acts = [[32, 16, 16, 8], [32, 8, 8, 16]].map((s) => tf.randomNormal(s, 0, 1, 'float32', 4));
  const actOnly = (f) => () => tf.tidy(() => {
    for (const x of acts) for (const t of tf.grads((x, a, b) => f(x, a, b))([x, tf.scalar(0.9), tf.scalar(2)])) t.dataSync();
  });
  const [layerStep, compStep, layerActs, compActs] = race([step(models[0]), step(models[1]), actOnly(op), actOnly(composite)], o.cnnReps);
  const cnnResult = {
    model: 'conv3x3x8(same) AReLU maxpool2 conv3x3x16(same) AReLU maxpool2 dense10, batch 32 of 16x16x1, SGD',
    layerStepMs: layerStep, compositeStepMs: compStep, speedup: compStep / layerStep,
    activationsOnly: { opMs: layerActs, compositeMs: compActs },
  };
  console.log(`CNN training step (batch 32): AReLU layer ${layerStep.toFixed(1)} ms, composite AReLU ${compStep.toFixed(1)} ms (${(compStep / layerStep).toFixed(2)}x); ` +
    `its activations alone (fwd+bwd): op ${layerActs.toFixed(1)} ms, composite ${compActs.toFixed(1)} ms`);
  models.forEach(({ m, opt }) => { m.dispose(); opt.dispose(); });
  tf.dispose([xb, yb, ...acts]);

  const info = arelu.info();
  const out = {
    elementwise, cnn: cnnResult, reps: o.reps, cnnReps: o.cnnReps,
    environment: { node: process.version, tfjs: tf.version.tfjs, backend: tf.getBackend(), isa: info.isa, threads: info.threads, cpus: os.cpus().length, loadavg: os.loadavg() },
    date: new Date().toISOString(),
  };
  if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(out, null, 2)}\n`);
}

main().catch((e) => { console.error(`tfjs-bench: ${e && e.stack || e}`); process.exitCode = 1; });
