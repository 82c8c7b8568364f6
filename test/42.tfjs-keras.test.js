'use strict';
// Models from the Keras ports of AReLU (issue 13; SPEC §6): a layers model whose
// topology holds {"class_name": "AReLU", "config": {"alpha": …, "beta": …}} and no
// weights for that layer loads after registerTfjs and computes with those constants.
const { expect } = require('chai');
const fs = require('fs');
const os = require('os');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const { registerTfjs } = require('../dist/tfjs');
const rng = require('./helpers').mulberry32;

function randomValues(n, seed, scale = 2) {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * scale);
}

// What the tensorflowjs converter writes for a Keras Sequential model
// Dense(4 -> 6), AReLU(alpha=0.3, beta=-1), Dense(6 -> 3), AReLU(alpha=1.5)
// (out of the clamp window; beta left at the port's default), as the port's
// get_config gives it: alpha and beta as plain floats beside name/trainable/dtype.
function kerasModelJson() {
  const dense = (name, units, extra = {}) => ({
    class_name: 'Dense',
    config: {
      name, trainable: true, dtype: 'float32', units, activation: 'linear', use_bias: true,
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null,
      kernel_constraint: null, bias_constraint: null, ...extra,
    },
  });
  return {
    format: 'layers-model',
    generatedBy: 'keras v2.15.0',
    convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: {
      keras_version: '2.15.0',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Sequential',
        config: {
          name: 'sequential',
          layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', sparse: false, ragged: false, name: 'dense_input' } },
            dense('dense', 6),
            { class_name: 'AReLU', config: { name: 'a_re_lu', trainable: true, dtype: 'float32', alpha: 0.3, beta: -1.0 } },
            dense('dense_1', 3),
            { class_name: 'AReLU', config: { name: 'a_re_lu_1', trainable: true, dtype: 'float32', alpha: 1.5 } },
          ],
        },
      },
    },
    weightsManifest: [{
      paths: ['group1-shard1of1.bin'],
      weights: [
        { name: 'dense/kernel', shape: [4, 6], dtype: 'float32' },
        { name: 'dense/bias', shape: [6], dtype: 'float32' },
        { name: 'dense_1/kernel', shape: [6, 3], dtype: 'float32' },
        { name: 'dense_1/bias', shape: [3], dtype: 'float32' },
      ],
    }],
  };
}

const W = { k0: randomValues(24, 1), b0: randomValues(6, 2), k1: randomValues(18, 3), b1: randomValues(3, 4) };
function weightData() {
  const all = new Float32Array(24 + 6 + 18 + 3);
  all.set(W.k0, 0); all.set(W.b0, 24); all.set(W.k1, 30); all.set(W.b1, 48);
  return all.buffer;
}

// The Keras port's call() in float64 (alpha clamped, 1 + sigmoid(beta)), on
// float32 constants as Keras would hold them.
function portArelu(v, alpha, beta) {
  const a = Math.min(Math.max(Math.fround(alpha), Math.fround(0.01)), Math.fround(0.99));
  const b = 1 + 1 / (1 + Math.exp(-Math.fround(beta)));
  return v > 0 ? v * b : v < 0 ? v * a : 0;
}
function expected(x, n) {
  const out = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    const h = new Float64Array(6);
    for (let j = 0; j < 6; j++) {
      let s = W.b0[j];
      for (let k = 0; k < 4; k++) s += x[i * 4 + k] * W.k0[k * 6 + j];
      h[j] = portArelu(Math.fround(s), 0.3, -1);
    }
    for (let j = 0; j < 3; j++) {
      let s = W.b1[j];
      for (let k = 0; k < 6; k++) s += Math.fround(h[k]) * W.k1[k * 3 + j];
      out[i * 3 + j] = portArelu(Math.fround(s), 1.5, 2.0);
    }
  }
  return out;
}

describe('arelu/tfjs: models from the Keras ports', function () {
  let AReLU;
  before(async function () {
    await tf.setBackend('cpu');
    ({ AReLU } = registerTfjs(tf));
  });

  function fromMemory() {
    const m = kerasModelJson();
    return tf.io.fromMemory({ modelTopology: m.modelTopology, weightSpecs: m.weightsManifest[0].weights, weightData: weightData() });
  }

  it('should load a Keras-port model (alpha/beta in the config, no weights) and compute with those constants', async function () {
    const model = await tf.loadLayersModel(fromMemory());
    const acts = model.layers.filter((l) => l.getClassName() === 'AReLU');
    expect(acts).to.have.length(2);
    expect(acts[0].constants).to.deep.equal({ alpha: 0.3, beta: -1 });
    expect(acts[1].constants).to.deep.equal({ alpha: 1.5, beta: 2 });
    for (const l of acts) expect(l.weights).to.have.length(0);
    const n = 16;
    const xv = randomValues(n * 4, 5, 6);
    const y = model.predict(tf.tensor(xv, [n, 4]));
    const want = expected(xv, n);
    const got = y.dataSync();
    for (let i = 0; i < want.length; i++) expect(got[i], `y[${i}]`).to.be.closeTo(want[i], 1e-5 * Math.max(1, Math.abs(want[i])));
    // Not a ReLU or identity in disguise: negative outputs scaled by the clamped alpha exist.
    expect(Array.from(got).some((v) => v < 0)).to.equal(true);
    y.dispose(); model.dispose();
  });

  it('should load it from model.json and a weights file on disk, as the converter writes them', async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-keras-'));
    try {
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(kerasModelJson()));
      fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(weightData()));
      // A minimal file handler (tfjs-node's file:// does the same): read model.json, then the shards.
      const handler = {
        load: async () => {
          const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
          const specs = m.weightsManifest.flatMap((g) => g.weights);
          const bufs = m.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(dir, p))));
          const data = Buffer.concat(bufs);
          return { modelTopology: m.modelTopology, weightSpecs: specs, weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) };
        },
      };
      const model = await tf.loadLayersModel(handler);
      const xv = randomValues(8, 6, 6);
      const got = model.predict(tf.tensor(xv, [2, 4])).dataSync();
      const want = expected(xv, 2);
      for (let i = 0; i < want.length; i++) expect(got[i]).to.be.closeTo(want[i], 1e-5 * Math.max(1, Math.abs(want[i])));
      model.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('should keep the constants fixed in training (no weights, as in Keras) while the rest trains', async function () {
    const model = await tf.loadLayersModel(fromMemory());
    const names = model.trainableWeights.map((w) => w.originalName);
    expect(names).to.deep.equal(['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias']);
    model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
    const xs = tf.tensor(randomValues(64 * 4, 7, 4), [64, 4]), ys = tf.tensor(randomValues(64 * 3, 8), [64, 3]);
    const h = await model.fit(xs, ys, { epochs: 5, batchSize: 16, verbose: 0, shuffle: false });
    expect(h.history.loss[4]).to.be.below(h.history.loss[0]);
    expect(model.layers.find((l) => l.name === 'a_re_lu').constants).to.deep.equal({ alpha: 0.3, beta: -1 });
    tf.dispose([xs, ys]); model.dispose();
  });

  it('should save a Keras-form layer in the same form and load it back with identical predictions', async function () {
    const model = await tf.loadLayersModel(fromMemory());
    let saved;
    await model.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    const layers = saved.modelTopology.config.layers.filter((l) => l.class_name === 'AReLU');
    expect(layers[0].config).to.include({ alpha: 0.3, beta: -1 });
    expect(layers[0].config).to.not.have.property('alpha_init');
    expect(saved.weightSpecs.map((s) => s.name)).to.deep.equal(['dense/kernel', 'dense/bias', 'dense_1/kernel', 'dense_1/bias']);
    const again = await tf.loadLayersModel(tf.io.fromMemory(saved));
    const x = tf.tensor(randomValues(20, 9, 6), [5, 4]);
    expect(Array.from(again.predict(x).dataSync())).to.deep.equal(Array.from(model.predict(x).dataSync()));
    x.dispose(); model.dispose(); again.dispose();
  });

  it('should build the Keras form from code too, and reject a mix of both forms or non-numbers', function () {
    const l = new AReLU({ alpha: 0.25 });
    expect(l.constants).to.deep.equal({ alpha: 0.25, beta: 2 });
    const y = l.apply(tf.tensor([[-4, 2]]));
    const s = 1 + 1 / (1 + Math.exp(-2));
    expect(Array.from(y.dataSync())[0]).to.equal(-1);
    expect(Array.from(y.dataSync())[1]).to.be.closeTo(2 * s, 1e-6);
    expect(l.getConfig()).to.include({ alpha: 0.25, beta: 2 });
    expect(() => new AReLU({ alpha: 0.3, perChannel: true })).to.throw(TypeError, /either alpha\/beta .* or alphaInit\/betaInit\/perChannel/);
    expect(() => new AReLU({ beta: 1, alphaInit: 0.3 })).to.throw(TypeError, /alphaInit/);
    expect(() => new AReLU({ alpha: '0.3' })).to.throw(TypeError, /alpha .* to be a number, but received string/);
    expect(() => new AReLU({ beta: null })).to.throw(TypeError, /beta .* received null/);
    y.dispose();
  });

  it('should leave the trainable form as it was (weights alpha and beta, alphaInit/betaInit/perChannel in the config)', function () {
    const l = new AReLU({ alphaInit: 0.4, perChannel: true });
    l.apply(tf.input({ shape: [3] }));
    expect(l.constants).to.equal(null);
    expect(l.trainableWeights.map((w) => w.shape)).to.deep.equal([[3], [3]]);
    expect(l.getConfig()).to.include({ alphaInit: 0.4, betaInit: 2, perChannel: true });
    expect(l.getConfig()).to.not.have.property('alpha');
  });
});
