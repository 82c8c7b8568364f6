#!/usr/bin/env node
'use strict';
// The 4M forward rows of bench/tfjs-bench.js (tensorflow backend) in their
// order, the arelu op, the composite and tf.relu, ten rounds, with a
// "MARK <variant> <round>" line on stderr before each call for
// heap-trace.c's output, and each call's time on stdout. Needs the
// provisioned tfjs-node (npm run provision:tfjs-node).
process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-node', { paths: [root] }));
const { registerTfjs } = require(path.join(root, 'dist', 'tfjs'));
const { compositeArelu } = require(path.join(root, 'bench', 'lib', 'tfjs-composite'));

const { arelu } = registerTfjs(tf);
const a = tf.scalar(0.9), b = tf.scalar(2);
tf.tidy(() => tf.relu(tf.add(tf.ones([1 << 20]), 0)).dataSync());
const n = 4 << 20;
const x = tf.add(tf.randomNormal([n / 64, 64], 0, 1, 'float32', 1), 0);
const variants = {
  op: () => tf.tidy(() => { arelu(x, a, b); }),
  composite: () => tf.tidy(() => { compositeArelu(tf, x, a, b); }),
  relu: () => tf.tidy(() => { tf.relu(x); }),
};
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < 10; r++)
  for (const [k, f] of Object.entries(variants)) {
    fs.writeSync(2, `MARK ${k} ${r}\n`);
    const t0 = process.hrtime.bigint();
    f();
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
for (const [k, t] of Object.entries(times)) console.log(`${k.padEnd(9)} ms per round: ${t.map((v) => v.toFixed(2)).join(' ')}`);
