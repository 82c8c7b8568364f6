'use strict';
// TensorFlow.js adapter (SPEC §6), on @tensorflow/tfjs with the cpu backend.
// tfjs-node cannot be installed in the build environment; the `tensorflow`
// backend is covered only through the backend interface the kernels use.
const { expect } = require('chai');
const tf = require('@tensorflow/tfjs');
const { registerTfjs, KERNEL_NAME, GRAD_KERNEL_NAME } = require('../dist/tfjs');

// The same function in tfjs ops: the reference the issue names.
function composite(x, alpha, beta) {
  return tf.tidy(() => tf.sub(
    tf.mul(tf.relu(x), tf.add(1, tf.sigmoid(beta))),
    tf.mul(tf.relu(tf.neg(x)), tf.clipByValue(alpha, 0.01, 0.99))));
}

// Deterministic pseudo-random numbers (mulberry32, shared with the other suites).
const rng = require('./helpers').mulberry32;
function randomTensor(shape, seed, withZeros = true) {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = withZeros && i % 17 === 0 ? 0 : (r() - 0.5) * 8;
  return tf.tensor(v, shape);
}

function expectClose(actual, expected, tol, what) {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
  for (let i = 0; i < e.length; i++) {
    const err = Math.abs(a[i] - e[i]);
    if (!(err <= tol * Math.max(1, Math.abs(e[i]))))
      expect.fail(`${what}[${i}]: ${a[i]} vs ${e[i]} (tolerance ${tol})`);
  }
}

function expectAbsClose(actual, expected, tol, what) {
  const a = actual.dataSync();
  const e = expected.dataSync();
  expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
  for (let i = 0; i < e.length; i++)
    if (!(Math.abs(a[i] - e[i]) <= tol)) expect.fail(`${what}[${i}]: ${a[i]} vs ${e[i]} (tolerance ${tol})`);
}

// Sum of |w·x| over the elements feeding a parameter gradient: the scale of its rounding error.
function gradScale(x, w) {
  return tf.tidy(() => tf.sum(tf.abs(tf.mul(x, w))).dataSync()[0]);
}

describe('arelu/tfjs', function () {
  let arelu, AReLU;
  before(async function () {
    await tf.setBackend('cpu');
    tf.tidy(() => tf.relu(tf.ones([1]))); // tfjs' one-time "install tfjs-node" banner goes out here
    ({ arelu, AReLU } = registerTfjs(tf));
  });

  describe('registerTfjs()', function () {
    it('should register both kernels for the cpu backend and the gradient', function () {
      expect(tf.getKernel(KERNEL_NAME, 'cpu')).to.be.an('object');
      expect(tf.getKernel(GRAD_KERNEL_NAME, 'cpu')).to.be.an('object');
      expect(tf.getGradient(KERNEL_NAME)).to.be.an('object');
      expect(arelu).to.be.a('function');
      expect(AReLU.className).to.equal('AReLU');
    });

    it('should skip backends that are not present (tensorflow without tfjs-node)', function () {
      expect(tf.findBackendFactory('tensorflow')).to.equal(null);
      expect(tf.getKernel(KERNEL_NAME, 'tensorflow')).to.equal(undefined);
    });

    it('should be harmless to call twice, also through another handle', function () {
      const warn = console.warn;
      const warnings = [];
      console.warn = (...a) => warnings.push(a.join(' '));
      try {
        const kernel = tf.getKernel(KERNEL_NAME, 'cpu').kernelFunc;
        const again = registerTfjs(tf);
        expect(again.arelu).to.equal(arelu);
        const other = registerTfjs({ ...tf });
        expect(tf.getKernel(KERNEL_NAME, 'cpu').kernelFunc).to.equal(kernel);
        const y = other.arelu(tf.tensor([-1, 1]), 0.5, 0);
        expect(Array.from(y.dataSync())).to.deep.equal([-0.5, 1.5]);
        y.dispose();
      } finally {
        console.warn = warn;
      }
      expect(warnings).to.deep.equal([]);
    });

    it('should throw a TypeError for something that is not tfjs', function () {
      expect(() => registerTfjs({})).to.throw(TypeError, /TensorFlow\.js module/);
      expect(() => registerTfjs(null)).to.throw(TypeError);
    });
  });

  describe('arelu(x, alpha, beta)', function () {
    const alphas = [0.9, 0.3, 0.005, -1, 1.5, 0.01, 0.99];
    const betas = [2, 0, -3, 5];

    it('should equal the composite for scalar parameters, in and out of the clamp window', function () {
      const x = randomTensor([7, 33], 1);
      for (const a of alphas) for (const b of betas) {
        tf.tidy(() => {
          const alpha = tf.scalar(a), beta = tf.scalar(b);
          expectClose(arelu(x, alpha, beta), composite(x, alpha, beta), 2.5e-7, `y(alpha=${a}, beta=${b})`);
        });
      }
      x.dispose();
    });

    it('should accept [1]-shaped parameters, numbers and defaults (0.9, 2.0)', function () {
      tf.tidy(() => {
        const x = randomTensor([50], 2);
        const ref = composite(x, tf.scalar(0.9), tf.scalar(2));
        expectClose(arelu(x), ref, 2.5e-7, 'defaults');
        expectClose(arelu(x, 0.9, 2), ref, 2.5e-7, 'numbers');
        expectClose(arelu(x, tf.tensor([0.9]), tf.tensor([2])), ref, 2.5e-7, '[1]');
      });
    });

    it('should equal the composite per channel (last axis), with mixed parameter shapes', function () {
      tf.tidy(() => {
        const x = randomTensor([3, 4, 5, 6], 3);
        const alpha = tf.tensor([0.5, 0.001, 1.2, 0.01, 0.99, 0.25]);
        const beta = tf.tensor([2, -1, 0, 4, -6, 1]);
        expectClose(arelu(x, alpha, beta), composite(x, alpha, beta), 2.5e-7, 'per-channel');
        expectClose(arelu(x, alpha, tf.scalar(0.5)), composite(x, alpha, tf.scalar(0.5)), 2.5e-7, 'alpha [C], beta []');
        expectClose(arelu(x, tf.tensor([0.2]), beta), composite(x, tf.tensor([0.2]), beta), 2.5e-7, 'alpha [1], beta [C]');
      });
    });

    it('should reject parameters whose shape does not fit the last axis', function () {
      tf.tidy(() => {
        const x = tf.zeros([2, 3]);
        expect(() => arelu(x, tf.tensor([0.1, 0.2]))).to.throw(RangeError, /alpha of shape \[\], \[1\] or \[3\]/);
        expect(() => arelu(x, 0.5, tf.zeros([3, 1]))).to.throw(RangeError, /beta/);
        expect(() => arelu([1, 2])).to.throw(TypeError, /x to be a tf\.Tensor/);
        expect(() => arelu(x, 'a')).to.throw(TypeError, /alpha/);
      });
    });

    it('should cast non-float32 input and handle empty tensors', function () {
      tf.tidy(() => {
        const y = arelu(tf.tensor([-2, 3], [2], 'int32'), 0.5, 0);
        expect(y.dtype).to.equal('float32');
        expect(Array.from(y.dataSync())).to.deep.equal([-1, 4.5]);
        const e = arelu(tf.zeros([0, 4]), tf.ones([4]), tf.ones([4]));
        expect(e.shape).to.deep.equal([0, 4]);
        const [dx, da] = tf.grads((x, a) => arelu(x, a, 1).sum())([tf.zeros([0, 4]), tf.ones([4])]);
        expect(dx.shape).to.deep.equal([0, 4]);
        expect(Array.from(da.dataSync())).to.deep.equal([0, 0, 0, 0]);
      });
    });

    it('should propagate NaN from x', function () {
      tf.tidy(() => {
        const y = arelu(tf.tensor([NaN, -1, 1]), 0.5, 0);
        const v = y.dataSync();
        expect(v[0]).to.be.NaN;
        expect(v[1]).to.equal(-0.5);
      });
    });
  });

  describe('gradient of arelu', function () {
    // L = Σ w·arelu(x, alpha, beta): dL/dy = w, an arbitrary upstream gradient.
    function grads(fn, x, alpha, beta, w) {
      return tf.grads((x, a, b) => tf.sum(tf.mul(fn(x, a, b), w)))([x, alpha, beta]);
    }
    function checkGrads(x, alpha, beta, w, what) {
      tf.tidy(() => {
        const [dx, da, db] = grads(arelu, x, alpha, beta, w);
        const [rdx, rda, rdb] = grads(composite, x, alpha, beta, w);
        expectClose(dx, rdx, 2.5e-7, `${what} dx`);
        // Parameter gradients: ours are float64 sums, tfjs' float32 ones; compare
        // relative to Σ|w·x| (the float32 sums' error scale).
        const scale = gradScale(x, w);
        expectAbsClose(da, rda, 1e-6 * scale, `${what} dAlpha`);
        expectAbsClose(db, rdb, 1e-6 * scale, `${what} dBeta`);
        expect(da.shape).to.deep.equal(alpha.shape);
        expect(db.shape).to.deep.equal(beta.shape);
      });
    }

    it('should equal the composite gradients for scalar parameters, in and out of the clamp window', function () {
      const x = randomTensor([9, 40], 4);
      const w = randomTensor([9, 40], 5, false);
      for (const a of [0.9, 0.3, 0.005, -1, 1.5, 0.01, 0.99]) for (const b of [2, -3]) {
        tf.tidy(() => checkGrads(x, tf.scalar(a), tf.scalar(b), w, `alpha=${a} beta=${b}`));
      }
      tf.tidy(() => checkGrads(x, tf.tensor([0.4]), tf.tensor([1]), w, '[1]-shaped'));
      x.dispose(); w.dispose();
    });

    it('should give zero dAlpha outside [0.01, 0.99] and non-zero inside', function () {
      tf.tidy(() => {
        const x = randomTensor([100], 6);
        const gA = (a) => tf.grad((al) => arelu(x, al, 2).sum())(tf.scalar(a)).dataSync()[0];
        expect(gA(0.005)).to.equal(0);
        expect(gA(1.5)).to.equal(0);
        expect(gA(0.5)).to.be.below(0);
      });
    });

    it('should equal the composite gradients per channel, with mixed parameter shapes', function () {
      tf.tidy(() => {
        const x = randomTensor([2, 5, 5, 4], 7);
        const w = randomTensor([2, 5, 5, 4], 8, false);
        const alpha = tf.tensor([0.5, 0.001, 1.2, 0.99]);
        const beta = tf.tensor([2, -1, 0, 4]);
        checkGrads(x, alpha, beta, w, 'per-channel');
        checkGrads(x, alpha, tf.scalar(0.5), w, 'alpha [C], beta []');
        checkGrads(x, tf.tensor([0.2]), beta, w, 'alpha [1], beta [C]');
      });
    });

    it('should let tf.grad reach x alone and alpha alone', function () {
      tf.tidy(() => {
        const x = randomTensor([30], 9);
        const dx = tf.grad((x) => arelu(x, 0.25, 0).sum())(x);
        expectClose(dx, tf.grad((x) => composite(x, tf.scalar(0.25), tf.scalar(0)).sum())(x), 2.5e-7, 'dx only');
        const da = tf.grad((a) => arelu(x, a, 0).sum())(tf.scalar(0.25));
        expectClose(da, tf.grad((a) => composite(x, a, tf.scalar(0)).sum())(tf.scalar(0.25)), 1e-5, 'dAlpha only');
      });
    });
  });

  describe('kernels through the backend interface', function () {
    // A backend that has only readSync and write, as tfjs-node's `tensorflow`
    // backend offers them: the kernels must need nothing else.
    function minimalBackend() {
      const store = new Map();
      return {
        store,
        readSync: (id) => store.get(id),
        write: (values, shape, dtype) => { const id = {}; store.set(id, values); return id; },
      };
    }
    function info(be, values, shape) {
      return { dataId: be.write(Float32Array.from(values), shape, 'float32'), shape, dtype: 'float32' };
    }

    it('AReLU and AReLUGrad should run on a backend with only readSync() and write()', function () {
      const be = minimalBackend();
      const inputs = { x: info(be, [-2, 0, 3, -1, 1, 2], [3, 2]), alpha: info(be, [0.5, 0.25], [2]), beta: info(be, [0, 0], [2]) };
      const y = tf.getKernel(KERNEL_NAME, 'cpu').kernelFunc({ inputs, backend: be, attrs: {} });
      expect(y.shape).to.deep.equal([3, 2]);
      expect(Array.from(be.readSync(y.dataId))).to.deep.equal([-1, 0, 4.5, -0.25, 1.5, 3]);
      const dy = info(be, [1, 1, 1, 1, 1, 1], [3, 2]);
      const [dx, da, db] = tf.getKernel(GRAD_KERNEL_NAME, 'cpu').kernelFunc({ inputs: { ...inputs, dy }, backend: be, attrs: {} });
      expect(Array.from(be.readSync(dx.dataId))).to.deep.equal([0.5, 0, 1.5, 0.25, 1.5, 1.5]);
      expect(Array.from(be.readSync(da.dataId))).to.deep.equal([-2, -1]);
      expect(Array.from(be.readSync(db.dataId))).to.deep.equal([(3 + 1) * 0.25, 2 * 0.25]);
      expect(da.shape).to.deep.equal([2]);
    });

    it('should not write into the backend storage of its inputs', function () {
      tf.tidy(() => {
        const x = tf.tensor([-1, 2, -3]);
        const before = Array.from(x.dataSync());
        arelu(x, 0.5, 1);
        tf.grad((x) => arelu(x, 0.5, 1).sum())(x);
        expect(Array.from(x.dataSync())).to.deep.equal(before);
      });
    });
  });

  describe('memory', function () {
    it('should keep tf.memory().numTensors stable across repeated op and gradient calls in tf.tidy', function () {
      const x = randomTensor([8, 16], 10);
      const a = tf.variable(tf.tensor([0.5, 0.3, 0.2, 0.9, 0.1, 0.4, 0.6, 0.7, 0.8, 0.05, 0.95, 0.5, 0.5, 0.5, 0.5, 0.5]));
      const b = tf.variable(tf.scalar(1));
      const step = () => tf.tidy(() => {
        arelu(x, a, b);
        arelu(x, 0.3, 2);
        tf.grads((x, a, b) => arelu(x, a, b).sum())([x, a, b]);
        tf.variableGrads(() => arelu(x, a, b).square().sum(), [a, b]);
      });
      step();
      const n = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).to.equal(n);
      x.dispose(); a.dispose(); b.dispose();
    });
  });

  describe('AReLU layer', function () {
    function dataset(n, seed) {
      const r = rng(seed);
      const xs = new Float32Array(n * 4), ys = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let t = 0;
        for (let j = 0; j < 4; j++) { const v = (r() - 0.5) * 4; xs[i * 4 + j] = v; t += (j % 2 ? -0.7 : 1.3) * v; }
        ys[i] = Math.abs(t) + 0.3 * t;
      }
      return { xs: tf.tensor2d(xs, [n, 4]), ys: tf.tensor2d(ys, [n, 1]) };
    }

    it('should have trainable alpha (0.90) and beta (2.0) weights, scalar or per channel', function () {
      const s = new AReLU();
      s.apply(tf.input({ shape: [3] }));
      expect(s.trainableWeights.map((w) => w.shape)).to.deep.equal([[1], [1]]);
      const [a, b] = s.getWeights();
      expect(a.dataSync()[0]).to.be.closeTo(0.9, 1e-7);
      expect(b.dataSync()[0]).to.equal(2);
      const c = new AReLU({ perChannel: true, alphaInit: 0.25, betaInit: 1 });
      c.apply(tf.input({ shape: [5, 5, 7] }));
      expect(c.trainableWeights.map((w) => w.shape)).to.deep.equal([[7], [7]]);
      expect(Array.from(c.getWeights()[0].dataSync())).to.deep.equal(new Array(7).fill(0.25));
      expect(c.getConfig()).to.include({ alphaInit: 0.25, betaInit: 1, perChannel: true });
      expect(() => new AReLU({ perChannel: 'yes' })).to.throw(TypeError, /perChannel/);
    });

    it('should train in a small model: loss falls, alpha and beta move', async function () {
      const { xs, ys } = dataset(256, 11);
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ units: 16, inputShape: [4], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
          new AReLU({ alphaInit: 0.5, betaInit: 0 }),
          tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
        ],
      });
      model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
      const before = model.layers[1].getWeights().map((w) => w.dataSync()[0]);
      const h = await model.fit(xs, ys, { epochs: 15, batchSize: 32, verbose: 0, shuffle: false });
      const loss = h.history.loss;
      expect(loss[loss.length - 1]).to.be.below(loss[0] * 0.5);
      const after = model.layers[1].getWeights().map((w) => w.dataSync()[0]);
      expect(Math.abs(after[0] - before[0])).to.be.above(1e-3);
      expect(Math.abs(after[1] - before[1])).to.be.above(1e-3);
      model.dispose(); xs.dispose(); ys.dispose();
    });

    it('should round-trip through save and load with identical predictions (sequential)', async function () {
      const model = tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
          new AReLU({ perChannel: true }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 4 }),
          new AReLU({ alphaInit: 0.3, betaInit: -1 }),
        ],
      });
      // Non-default weights, so that a load that ignored them would be caught.
      model.layers[1].setWeights([tf.tensor([0.1, 0.5, 1.4]), tf.tensor([-1, 0.5, 3])]);
      let saved;
      await model.save(tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
      expect(loaded.layers[1].getClassName()).to.equal('AReLU');
      expect(loaded.layers[1].perChannel).to.equal(true);
      expect(loaded.layers[4].getConfig()).to.include({ alphaInit: 0.3, betaInit: -1, perChannel: false });
      const x = randomTensor([5, 6, 6, 2], 12);
      const p0 = model.predict(x), p1 = loaded.predict(x);
      expect(Array.from(p1.dataSync())).to.deep.equal(Array.from(p0.dataSync()));
      expect(Array.from(loaded.layers[1].getWeights()[1].dataSync())).to.deep.equal([-1, 0.5, 3]);
      tf.dispose([x, p0, p1]); model.dispose(); loaded.dispose();
    });

    it('should work in a functional model and round-trip it', async function () {
      const inp = tf.input({ shape: [3] });
      const h = new AReLU({ perChannel: true, name: 'act' }).apply(tf.layers.dense({ units: 5 }).apply(inp));
      const out = tf.layers.dense({ units: 2 }).apply(h);
      const model = tf.model({ inputs: inp, outputs: out });
      let saved;
      await model.save(tf.io.withSaveHandler(async (a) => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
      const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
      expect(loaded.getLayer('act').getClassName()).to.equal('AReLU');
      const x = randomTensor([4, 3], 13);
      const p0 = model.predict(x), p1 = loaded.predict(x);
      expect(Array.from(p1.dataSync())).to.deep.equal(Array.from(p0.dataSync()));
      tf.dispose([x, p0, p1]); model.dispose(); loaded.dispose();
    });

    it('should keep numTensors stable across repeated predict() in tf.tidy', function () {
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 8, inputShape: [4] }), new AReLU({ perChannel: true })] });
      const x = tf.ones([3, 4]);
      tf.tidy(() => { model.predict(x); });
      const n = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) tf.tidy(() => { model.predict(x); });
      expect(tf.memory().numTensors).to.equal(n);
      x.dispose(); model.dispose();
    });
  });
});
