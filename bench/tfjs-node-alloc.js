#!/usr/bin/env node
'use strict';
// Where the tfjs-node forward's time goes at 4M elements with TensorFlow's
// default thread pools (issue 10): the arelu op, tf.relu and tf.abs, each
// call split into the op itself (output allocated and written) and the
// dispose of its 16 MB output, with minor page faults counted, in rounds
// that also run the composite (relu(x)*(1+sigmoid(b)) - relu(-x)*clip(a))
// as bench/tfjs-bench.js's rows do, and in rounds without it.
//
//   node bench/tfjs-node-alloc.js [--rounds N]
//   TF_CPU_ALLOCATOR_USE_BFC=true node bench/tfjs-node-alloc.js   (TF's pooled allocator)
//
// Medians over the rounds (the first 3 dropped). Needs the provisioned
// tfjs-node (npm run provision:tfjs-node).
const path = require('path');
const { compositeArelu } = require('./lib/tfjs-composite');

const root = path.join(__dirname, '..');
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 25;
const tf = require(require.resolve('@tensorflow/tfjs-node', { paths: [root] }));
const { registerTfjs } = require(path.join(root, 'dist', 'tfjs.js'));
const { arelu, backends } = registerTfjs(tf);
if (backends.tensorflow.path !== 'tf-op') throw new Error(`the TF-op path is not active: ${backends.tensorflow.reason}`);

const n = 4 << 20;
const x = tf.randomNormal([n]), a = tf.scalar(0.9), b = tf.scalar(2);
const ops = { op: () => arelu(x, a, b), relu: () => tf.relu(x), abs: () => tf.abs(x) };
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v) => { const s = v.slice(3).sort((p, q) => p - q); return s[s.length >> 1]; };

function run(withComposite) {
  const r = {};
  for (const k of Object.keys(ops)) r[k] = { call: [], dispose: [], faults: [] };
  for (let i = 0; i < rounds; i++)
    for (const k of Object.keys(ops)) {
      if (withComposite) tf.tidy(() => { compositeArelu(tf, x, a, b); });
      const f0 = process.resourceUsage().minorPageFault;
      let t0 = process.hrtime.bigint();
      const y = ops[k]();
      r[k].call.push(ms(t0));
      t0 = process.hrtime.bigint();
      y.dispose();
      r[k].dispose.push(ms(t0));
      r[k].faults.push(process.resourceUsage().minorPageFault - f0);
    }
  return r;
}

console.log(`tfjs-node ${tf.version.tfjs}, 4M elements, TF_CPU_ALLOCATOR_USE_BFC=${process.env.TF_CPU_ALLOCATOR_USE_BFC ?? '(unset)'}, ${rounds} rounds, medians`);
for (const withComposite of [false, true]) {
  const r = run(withComposite);
  console.log(withComposite ? 'each op after the composite:' : 'ops alone (round-robin):');
  for (const k of Object.keys(ops)) {
    const c = median(r[k].call), d = median(r[k].dispose);
    console.log(`  ${k.padEnd(5)} call ${c.toFixed(2)} ms + dispose ${d.toFixed(2)} ms = ${(c + d).toFixed(2)} ms; ` +
      `minor page faults ${median(r[k].faults)}`);
  }
}
