'use strict';
// TensorFlow.js adapter on a real tfjs-node (SPEC §6, issue 10): the
// `tensorflow` backend with AReLU and its gradient as TensorFlow ops inside
// tfjs-node's own runtime (the tf-op path), the copy path as the forced
// fallback, duplicate registration by two copies of the addon, bad inputs.
// tfjs-node's native part comes from scripts/provision-tfjs-node.js (npm test
// runs it first); the suite skips, saying why, only where that script could
// not provision it (its status file says so).
const { expect } = require('chai');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { mulberry32 } = require('./helpers');

const root = path.join(__dirname, '..');
const addonPath = process.env.ARELU_NATIVE_PATH
  ? path.resolve(process.env.ARELU_NATIVE_PATH)
  : require('node-gyp-build').path(root);

/** tfjs-node's directory, and why the suite must skip (undefined: it must run). */
function tfjsNodeState() {
  let dir;
  try {
    dir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [root] }));
  } catch {
    return { skip: '@tensorflow/tfjs-node is not installed (npm ci installs it: it is a devDependency)' };
  }
  const statusFile = path.join(dir, 'deps', 'arelu-provision.json');
  const status = fs.existsSync(statusFile) ? JSON.parse(fs.readFileSync(statusFile, 'utf8')) : null;
  if (status && !status.ok) return { dir, skip: `scripts/provision-tfjs-node.js could not provision it: ${status.reason}` };
  return { dir };
}

// Runs a script in a fresh Node process (for what must start from a clean
// process: forced fallback, registration order); returns its JSON output.
function child(src, env = {}) {
  const r = spawnSync(process.execPath, ['-e', src], {
    cwd: root, encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env }, timeout: 120000,
  });
  if (r.status !== 0) throw new Error(`child exited with ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function randomValues(n, seed, withZeros = true) {
  const r = mulberry32(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = withZeros && i % 17 === 0 ? 0 : (r() - 0.5) * 8;
  return v;
}

const bits = (a) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

// Loads tfjs-node and arelu/tfjs in a child process; sample(r) runs the op and its gradient.
const prelude = `
    const tf = require(${JSON.stringify(path.join(root, 'node_modules', '@tensorflow', 'tfjs-node'))});
    const { registerTfjs } = require('./dist/tfjs');
    const sample = (r) => tf.tidy(() => {
      const x = tf.add(tf.tensor(Array.from({ length: 600 }, (_, i) => Math.sin(i * 1.7) * 3), [100, 6]), 0);
      const a = tf.tensor([0.1, 0.3, 0.5, 0.7, 0.9, 0.005]), b = tf.scalar(1.5);
      const y = r.arelu(x, a, b);
      const g = tf.grads((x, a, b) => tf.sum(tf.mul(r.arelu(x, a, b), x)))([x, a, b]);
      return [y, ...g].map((t) => Array.from(t.dataSync()));
    });`;

describe('arelu/tfjs on tfjs-node (tensorflow backend)', function () {
  this.timeout(300000);
  let tf, arelu, core, reg, state;

  before(async function () {
    state = tfjsNodeState();
    if (state.skip) {
      console.log(`      skipped: ${state.skip}`);
      this.skip();
    }
    process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
    try {
      tf = require(state.dir);
    } catch (e) {
      throw new Error(`@tensorflow/tfjs-node does not load (run \`npm run provision:tfjs-node\`): ${e.message}`);
    }
    await tf.setBackend('tensorflow');
    core = require('../dist/index');
    const { registerTfjs } = require('../dist/tfjs');
    reg = registerTfjs(tf);
    arelu = reg.arelu;
  });
  after(async function () {
    // Later suites in this process expect tfjs' default cpu backend.
    if (tf) await tf.setBackend('cpu');
  });

  function composite(x, alpha, beta) {
    return tf.tidy(() => tf.sub(
      tf.mul(tf.relu(x), tf.add(1, tf.sigmoid(beta))),
      tf.mul(tf.relu(tf.neg(x)), tf.clipByValue(alpha, 0.01, 0.99))));
  }
  function expectClose(actual, expected, tol, what) {
    const a = actual.dataSync(), e = expected.dataSync();
    expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
    for (let i = 0; i < e.length; i++)
      if (!(Math.abs(a[i] - e[i]) <= tol * Math.max(1, Math.abs(e[i])))) expect.fail(`${what}[${i}]: ${a[i]} vs ${e[i]} (tolerance ${tol})`);
  }
  function expectAbsClose(actual, expected, tol, what) {
    const a = actual.dataSync(), e = expected.dataSync();
    expect(actual.shape, `${what}: shape`).to.deep.equal(expected.shape);
    for (let i = 0; i < e.length; i++)
      if (!(Math.abs(a[i] - e[i]) <= tol)) expect.fail(`${what}[${i}]: ${a[i]} vs ${e[i]} (tolerance ${tol})`);
  }

  describe('registerTfjs()', function () {
    it('should run on the tensorflow backend with the tf-op path, and say so', function () {
      expect(tf.getBackend()).to.equal('tensorflow');
      expect(reg.backends.tensorflow.path).to.equal('tf-op');
      expect(reg.backends.tensorflow.reason).to.match(/NpmAreluForwardV1\/NpmAreluGradV1/);
      expect(reg.backends.cpu.path).to.equal('copy');
    });

    it('should run the TensorFlow ops: x is never read out of TensorFlow, y stays inside it', function () {
      const backend = tf.backend();
      const x = tf.add(tf.tensor(randomValues(1000, 1), [10, 100]), 0);  // resident in TensorFlow
      const readSync = backend.readSync, exec = backend.executeSingleOutput, multi = backend.executeMultipleOutputs;
      const reads = [], ops = [];
      backend.readSync = function (id) { reads.push(id); return readSync.call(this, id); };
      backend.executeSingleOutput = function (name, ...rest) { ops.push(name); return exec.call(this, name, ...rest); };
      backend.executeMultipleOutputs = function (name, ...rest) { ops.push(name); return multi.call(this, name, ...rest); };
      try {
        tf.tidy(() => {
          const y = arelu(x, 0.5, 1);
          tf.grads((x, a, b) => arelu(x, a, b))([x, tf.scalar(0.5), tf.scalar(1)]);
          expect(reads, 'readSync calls').to.deep.equal([]);
          expect(ops).to.include.members(['NpmAreluForwardV1', 'NpmAreluGradV1']);
          expect(backend.tensorMap.get(y.dataId).values, 'y held in JS').to.equal(null);
        });
      } finally {
        delete backend.readSync; delete backend.executeSingleOutput; delete backend.executeMultipleOutputs;
        x.dispose();
      }
      expect(backend.readSync).to.equal(readSync);
    });
  });

  describe('values and gradients against the composite', function () {
    it('should equal the composite for scalar and [1] parameters, in and out of the clamp window', function () {
      const x = tf.tensor(randomValues(7 * 33, 2), [7, 33]);
      for (const a of [0.9, 0.3, 0.005, -1, 1.5, 0.01, 0.99]) for (const b of [2, 0, -3, 5]) {
        tf.tidy(() => {
          expectClose(arelu(x, tf.scalar(a), tf.scalar(b)), composite(x, tf.scalar(a), tf.scalar(b)), 2.5e-7, `y(${a}, ${b})`);
          expectClose(arelu(x, tf.tensor([a]), tf.tensor([b])), composite(x, tf.scalar(a), tf.scalar(b)), 2.5e-7, `y([${a}], [${b}])`);
        });
      }
      x.dispose();
    });

    it('should equal the composite per channel (last axis), with mixed parameter shapes', function () {
      tf.tidy(() => {
        const x = tf.tensor(randomValues(3 * 4 * 5 * 6, 3), [3, 4, 5, 6]);
        const alpha = tf.tensor([0.5, 0.001, 1.2, 0.01, 0.99, 0.25]);
        const beta = tf.tensor([2, -1, 0, 4, -6, 1]);
        expectClose(arelu(x, alpha, beta), composite(x, alpha, beta), 2.5e-7, 'per-channel');
        expectClose(arelu(x, alpha, tf.scalar(0.5)), composite(x, alpha, tf.scalar(0.5)), 2.5e-7, 'alpha [C], beta []');
        expectClose(arelu(x, tf.tensor([0.2]), beta), composite(x, tf.tensor([0.2]), beta), 2.5e-7, 'alpha [1], beta [C]');
      });
    });

    function checkGrads(x, alpha, beta, w, what) {
      tf.tidy(() => {
        const g = (fn) => tf.grads((x, a, b) => tf.sum(tf.mul(fn(x, a, b), w)))([x, alpha, beta]);
        const [dx, da, db] = g(arelu);
        const [rdx, rda, rdb] = g(composite);
        expectClose(dx, rdx, 2.5e-7, `${what} dx`);
        const scale = tf.sum(tf.abs(tf.mul(x, w))).dataSync()[0];  // the float32 sums' error scale
        expectAbsClose(da, rda, 1e-6 * scale, `${what} dAlpha`);
        expectAbsClose(db, rdb, 1e-6 * scale, `${what} dBeta`);
        expect(da.shape).to.deep.equal(alpha.shape);
        expect(db.shape).to.deep.equal(beta.shape);
      });
    }

    it('should equal the composite gradients for scalar and [1] parameters', function () {
      tf.tidy(() => {
        const x = tf.tensor(randomValues(9 * 40, 4), [9, 40]);
        const w = tf.tensor(randomValues(9 * 40, 5, false), [9, 40]);
        for (const a of [0.9, 0.3, 0.005, 1.5]) for (const b of [2, -3]) checkGrads(x, tf.scalar(a), tf.scalar(b), w, `alpha=${a} beta=${b}`);
        checkGrads(x, tf.tensor([0.4]), tf.tensor([1]), w, '[1]-shaped');
      });
    });

    it('should equal the composite gradients per channel, with mixed parameter shapes', function () {
      tf.tidy(() => {
        const x = tf.tensor(randomValues(2 * 5 * 5 * 4, 7), [2, 5, 5, 4]);
        const w = tf.tensor(randomValues(2 * 5 * 5 * 4, 8, false), [2, 5, 5, 4]);
        const alpha = tf.tensor([0.5, 0.001, 1.2, 0.99]);
        const beta = tf.tensor([2, -1, 0, 4]);
        checkGrads(x, alpha, beta, w, 'per-channel');
        checkGrads(x, alpha, tf.scalar(0.5), w, 'alpha [C], beta []');
        checkGrads(x, tf.tensor([0.2]), beta, w, 'alpha [1], beta [C]');
      });
    });

    it('should handle a scalar x, empty tensors and NaN in x', function () {
      tf.tidy(() => {
        expect(Array.from(arelu(tf.scalar(-2), 0.5, 0).dataSync())).to.deep.equal([-1]);
        const e = arelu(tf.zeros([0, 4]), tf.ones([4]), tf.ones([4]));
        expect(e.shape).to.deep.equal([0, 4]);
        const [dx, da] = tf.grads((x, a) => arelu(x, a, 1).sum())([tf.zeros([0, 4]), tf.ones([4])]);
        expect(dx.shape).to.deep.equal([0, 4]);
        expect(Array.from(da.dataSync())).to.deep.equal([0, 0, 0, 0]);
        const v = arelu(tf.tensor([NaN, -1, 1]), 0.5, 0).dataSync();
        expect(v[0]).to.be.NaN;
        expect(v[1]).to.equal(-0.5);
      });
    });

    it('should train an AReLU layer with model.fit: loss falls, alpha and beta move', async function () {
      const { AReLU } = reg;
      const r = mulberry32(11);
      const xs = tf.tensor2d(Array.from({ length: 256 * 4 }, () => r() * 2 - 1), [256, 4]);
      const ys = tf.tidy(() => tf.sum(tf.abs(xs), 1, true));
      const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 8, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), new AReLU({ perChannel: true }), tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
      model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
      const h = await model.fit(xs, ys, { epochs: 10, batchSize: 32, verbose: 0, shuffle: false });
      expect(h.history.loss[9]).to.be.below(h.history.loss[0] * 0.5);
      const alpha = model.layers[1].getWeights()[0].dataSync();
      expect(Array.from(alpha).some((a) => Math.abs(a - 0.9) > 1e-4), 'alpha moved').to.equal(true);
      model.dispose(); xs.dispose(); ys.dispose();
    });

    it('should save a model with AReLU layers to file:// and load it back with identical predictions', async function () {
      const { AReLU } = reg;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-tfnode-model-'));
      try {
        const model = tf.sequential({
          layers: [
            tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
            new AReLU({ perChannel: true }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 4 }),
            new AReLU({ alphaInit: 0.3, betaInit: -1 }),
          ],
        });
        model.layers[1].setWeights([tf.tensor([0.1, 0.5, 1.4]), tf.tensor([-1, 0.5, 3])]);
        await model.save(`file://${dir}`);
        const loaded = await tf.loadLayersModel(`file://${path.join(dir, 'model.json')}`);
        expect(loaded.layers[1].getClassName()).to.equal('AReLU');
        expect(loaded.layers[4].getConfig()).to.include({ alphaInit: 0.3, betaInit: -1, perChannel: false });
        const x = tf.tensor(randomValues(5 * 6 * 6 * 2, 12), [5, 6, 6, 2]);
        const p0 = model.predict(x), p1 = loaded.predict(x);
        expect(bits(p1.dataSync())).to.deep.equal(bits(p0.dataSync()));
        expect(Array.from(loaded.layers[1].getWeights()[1].dataSync())).to.deep.equal([-1, 0.5, 3]);
        tf.dispose([x, p0, p1]); model.dispose(); loaded.dispose();
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('bit-identity with arelu.forward/backward', function () {
    // Large enough that forward and backward run on the thread pool.
    const rows = 5000, C = 128, n = rows * C;
    function both(alpha, beta, what) {
      const xv = randomValues(n, 21), gv = randomValues(n, 22, false);
      tf.tidy(() => {
        const x = tf.tensor(xv, [rows, C]), g = tf.tensor(gv, [rows, C]);
        const a = tf.tensor(alpha, alpha.length === 1 ? [] : [C]), b = tf.tensor(beta, beta.length === 1 ? [] : [C]);
        const perChannel = alpha.length > 1 || beta.length > 1;
        const spread = (v) => (v.length === C || !perChannel ? Float32Array.from(v) : new Float32Array(C).fill(v[0]));
        const params = perChannel ? { alpha: spread(alpha), beta: spread(beta) } : { alpha: alpha[0], beta: beta[0] };
        const opts = perChannel ? { shape: [rows, C], channelAxis: 1 } : {};
        const y = core.forward(xv, params, opts);
        expect(bits(arelu(x, a, b).dataSync()), `${what} y`).to.deep.equal(bits(y));
        const ref = core.backward(xv, gv, params, opts);
        const [dx, da, db] = tf.grads((x, a, b) => arelu(x, a, b))([x, a, b], g);
        expect(bits(dx.dataSync()), `${what} dx`).to.deep.equal(bits(ref.dx));
        const reduce = (s, len) => (typeof s === 'number' ? [s] : len === s.length ? Array.from(s) : [Array.from(s).reduce((p, q) => p + q, 0)]);
        expect(bits(da.dataSync()), `${what} dAlpha`).to.deep.equal(bits(reduce(ref.dAlpha, alpha.length)));
        expect(bits(db.dataSync()), `${what} dBeta`).to.deep.equal(bits(reduce(ref.dBeta, beta.length)));
      });
    }
    const perC = (f) => Array.from({ length: C }, (_, i) => f(i));

    it('should give the same bits for scalar parameters', function () {
      both([0.3], [1.5], 'scalar');
    });
    it('should give the same bits per channel, and with mixed parameter shapes', function () {
      both(perC((i) => 0.005 + i / 100), perC((i) => (i - 64) / 16), 'per-channel');
      both([0.25], perC((i) => i / 32), 'alpha [1], beta [C]');
    });
    it('should give the same bits with 1 thread and with the default thread count', function () {
      const threads = core.info().threads;
      try {
        core.setNumThreads(1);
        both(perC((i) => i / 128), [2], '1 thread');
      } finally {
        core.setNumThreads(threads);
      }
    });
    it('should give the same bits (NaN included) for NaN and infinite parameters', function () {
      both([NaN], [2], 'alpha NaN');
      both([0.5], [Infinity], 'beta +Inf');
      both([-Infinity], [-Infinity], 'alpha, beta -Inf');
      both(perC((i) => (i % 3 === 0 ? NaN : 0.5)), perC((i) => (i % 5 === 0 ? -Infinity : 1)), 'per-channel NaN/Inf');
    });
  });

  describe('bad inputs: an error, never a crash, no tensor growth', function () {
    it('should reject wrong parameter shapes (RangeError in JS; the kernel re-checks)', function () {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const x = tf.zeros([2, 3]);
        expect(() => arelu(x, tf.tensor([0.1, 0.2]))).to.throw(RangeError, /alpha of shape \[\], \[1\] or \[3\]/);
        expect(() => arelu(x, 0.5, tf.zeros([3, 1]))).to.throw(RangeError, /beta/);
        // Straight to the kernel (past the JS check): TensorFlow's failure status becomes the error.
        expect(() => tf.engine().runKernel('AReLU', { x, alpha: tf.tensor([0.1, 0.2]), beta: tf.scalar(1) }))
          .to.throw(/AReLU: expected alpha of shape \[\], \[1\] or \[3\] \(the last axis of x\), but received \[2\]/);
        expect(() => tf.engine().runKernel('AReLU', { x, alpha: tf.scalar(1), beta: tf.zeros([3, 1]) }))
          .to.throw(/AReLU: expected beta of shape .* but received \[3, 1\]/);
        expect(() => tf.engine().runKernel('AReLUGrad', { x, dy: tf.zeros([3, 2]), alpha: tf.scalar(1), beta: tf.scalar(1) }))
          .to.throw(/AReLU: expected dy of the shape of x \[2, 3\], but received \[3, 2\]/);
      });
      expect(tf.memory().numTensors).to.equal(before);
    });

    it('should reject int32 tensors at the kernel (arelu() itself casts them)', function () {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const xi = tf.tensor([-2, 3], [2], 'int32');
        expect(Array.from(arelu(xi, 0.5, 0).dataSync())).to.deep.equal([-1, 4.5]);
        expect(() => tf.engine().runKernel('AReLU', { x: xi, alpha: tf.scalar(1), beta: tf.scalar(1) }))
          .to.throw(TypeError, /x of dtype float32/);
        // The TensorFlow op itself, run directly: TensorFlow checks the dtype.
        expect(() => tf.backend().executeSingleOutput('NpmAreluForwardV1', [], [xi, tf.scalar(1), tf.scalar(1)]))
          .to.throw(/expected to be a float tensor but is a int32 tensor/);
      });
      expect(tf.memory().numTensors).to.equal(before);
    });

    it('should reject disposed tensors', function () {
      const before = tf.memory().numTensors;
      const x = tf.ones([4]), a = tf.scalar(0.5);
      x.dispose();
      expect(() => arelu(x, 0.5, 1)).to.throw(TypeError, /Expected x to be a tf\.Tensor that is not disposed/);
      const x2 = tf.ones([4]);
      a.dispose();
      expect(() => arelu(x2, a, 1)).to.throw(TypeError, /Expected alpha to be a tf\.Tensor that is not disposed/);
      expect(() => tf.grads((x) => arelu(x, a, 1))([x2])).to.throw(TypeError, /alpha .* not disposed/);
      x2.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    });

    it('should keep numTensors and numBytes flat over repeated op and gradient calls', function () {
      const x = tf.add(tf.tensor(randomValues(4096, 31), [64, 64]), 0), a = tf.fill([64], 0.5), b = tf.scalar(1);
      const step = () => tf.tidy(() => {
        for (const t of tf.grads((x, a, b) => tf.sum(arelu(x, a, b)))([x, a, b])) t.dataSync();
      });
      step();
      const m0 = tf.memory();
      for (let i = 0; i < 50; i++) step();
      const m1 = tf.memory();
      expect(m1.numTensors).to.equal(m0.numTensors);
      expect(m1.numBytes).to.equal(m0.numBytes);
      tf.dispose([x, a, b]);
    });
  });

  describe('fallback and registration order (fresh processes)', function () {

    it('should use the copy path when ARELU_TFJS_TF_OP=0, say why, and give the same bits', function () {
      const src = `${prelude}
        const r = registerTfjs(tf);
        console.log(JSON.stringify({ backends: r.backends, out: sample(r), backend: tf.getBackend() }));`;
      const copy = child(src, { ARELU_TFJS_TF_OP: '0' });
      const tfop = child(src);
      expect(copy.backend).to.equal('tensorflow');
      expect(copy.backends.tensorflow.path).to.equal('copy');
      expect(copy.backends.tensorflow.reason).to.match(/turned off by ARELU_TFJS_TF_OP/);
      expect(tfop.backends.tensorflow.path).to.equal('tf-op');
      copy.out.forEach((v, i) => expect(bits(v), `output ${i}`).to.deep.equal(bits(tfop.out[i])));
    });

    it('should report the copy path with the reason when tfjs-node is not loaded yet, and register once it is', function () {
      const src = `
        const addon = require(${JSON.stringify(addonPath)});
        const early = addon.tfop.register();
        ${prelude}
        const late = addon.tfop.register();
        const r = registerTfjs(tf);
        console.log(JSON.stringify({ early, late, backends: r.backends }));`;
      const out = child(src);
      expect(out.early.ok).to.equal(false);
      expect(out.early.reason).to.match(/no TensorFlow library \(libtensorflow\*\) is loaded/);
      expect(out.late.ok).to.equal(true);
      expect(out.late.libraries.some((l) => /libtensorflow_framework\.so/.test(l))).to.equal(true);
      expect(out.backends.tensorflow.path).to.equal('tf-op');
    });
  });

  describe('an incomplete TensorFlow C API (fresh process, no tfjs-node)', function () {
    it('should fall back to the copy path naming the missing symbols, never crash', function () {
      // A stand-in "libtensorflow" that exports one C API function: what an old or
      // stripped libtensorflow would look like to the resolver.
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-tfstub-'));
      try {
        const src = path.join(tmp, 'stub.c');
        fs.writeFileSync(src, '#include <node_api.h>\nvoid* TF_NewStatus(void) { return 0; }\nNAPI_MODULE_INIT() { return exports; }\n');
        const lib = path.join(tmp, 'libtensorflow_stub.node');
        const cc = spawnSync('cc', ['-shared', '-fPIC', '-I', path.join(root, 'node_modules', 'node-api-headers', 'include'), src, '-o', lib], { encoding: 'utf8' });
        if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr || cc.error}`);
        const out = child(`
          require(${JSON.stringify(lib)});
          const tf = require('@tensorflow/tfjs');
          const { MathBackendCPU } = require('@tensorflow/tfjs-backend-cpu');
          tf.registerBackend('tensorflow', () => new MathBackendCPU());  // a stand-in tensorflow backend
          const { registerTfjs } = require('./dist/tfjs');
          const r = registerTfjs(tf);
          tf.setBackend('tensorflow');
          const y = Array.from(r.arelu(tf.tensor([-2, 0, 3]), 0.5, 0).dataSync());
          console.log(JSON.stringify({ backends: r.backends, y, native: require(${JSON.stringify(addonPath)}).tfop.register() }));`);
        expect(out.native.ok).to.equal(false);
        expect(out.native.libraries).to.deep.equal([lib]);
        expect(out.native.reason).to.match(/C API for ops and kernels is incomplete in the loaded library \(missing TF_DeleteStatus, TF_SetStatus, .*TF_TensorElementCount\)/);
        expect(out.backends.tensorflow.path).to.equal('copy');
        expect(out.backends.tensorflow.reason).to.match(/^TF-op path unavailable: TensorFlow's C API .* incomplete .*; kernels copy tensor data/);
        expect(out.y).to.deep.equal([-1, 0, 4.5]);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  });

  describe('two copies of the addon in one process', function () {
    let tmp;
    before(function () { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-tfop-')); });
    after(function () { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

    it('should reuse the ops another copy registered (here: this process), never abort', function () {
      const copyPath = path.join(tmp, 'arelu-copy.node');
      fs.copyFileSync(addonPath, copyPath);
      const second = require(copyPath);
      expect(second).to.not.equal(require(addonPath));
      const r = second.tfop.register();
      expect(r.ok, r.reason).to.equal(true);
      expect(r.reused).to.equal(true);
      expect(r.reason).to.match(/already registered in this process \(another copy of arelu\)/);
      tf.tidy(() => {
        const x = tf.tensor(randomValues(60, 41), [10, 6]);
        expect(bits(tf.backend().executeSingleOutput(second.tfop.forwardOp, [], [x, tf.scalar(0.5), tf.scalar(1)]).dataSync()))
          .to.deep.equal(bits(arelu(x, 0.5, 1).dataSync()));
      });
    });

    it('should work when the other copy registered first (fresh process)', function () {
      const copyPath = path.join(tmp, 'arelu-first.node');
      fs.copyFileSync(addonPath, copyPath);
      const src = `${prelude}
        const first = require(${JSON.stringify(copyPath)}).tfop.register();
        const r = registerTfjs(tf);
        console.log(JSON.stringify({ first, backends: r.backends, out: sample(r) }));`;
      const out = child(src);
      expect(out.first.ok).to.equal(true);
      expect(out.first.reused).to.equal(false);
      expect(out.backends.tensorflow.path).to.equal('tf-op');
      expect(out.backends.tensorflow.reason).to.match(/already registered in this process/);
      const ref = child(`${prelude} console.log(JSON.stringify({ out: sample(registerTfjs(tf)) }));`);
      out.out.forEach((v, i) => expect(bits(v), `output ${i}`).to.deep.equal(bits(ref.out[i])));
    });
  });

  describe('worker threads (fresh process)', function () {
    // TensorFlow's op registry is process-wide, the addon's environments are
    // per thread: ops registered from a worker must stay valid after that
    // worker (the only environment that had loaded the addon) exits, and a
    // later registerTfjs in another thread must find and reuse them.
    it('should run in workers that exit, in parallel workers, and on the main thread afterwards, with the same bits', function () {
      const workerSrc = `${prelude}
        const r = registerTfjs(tf);
        require('worker_threads').parentPort.postMessage({ path: r.backends.tensorflow.path, out: sample(r) });`;
      // The main thread loads tfjs-node (TensorFlow stays loaded) but loads
      // arelu only after the workers are gone.
      const src = `
        require(${JSON.stringify(path.join(root, 'node_modules', '@tensorflow', 'tfjs-node'))});
        const { Worker } = require('worker_threads');
        const run = () => new Promise((resolve, reject) => {
          const w = new Worker(${JSON.stringify(workerSrc)}, { eval: true });
          let msg;
          w.on('message', (m) => { msg = m; });
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 && msg ? resolve(msg) : reject(new Error('worker exit ' + code))));
        });
        (async () => {
          const seq = [await run(), await run()];
          const par = await Promise.all([run(), run(), run()]);
          ${prelude}
          const r = registerTfjs(tf);
          console.log(JSON.stringify({ workers: [...seq, ...par], main: { path: r.backends.tensorflow.path, out: sample(r) } }));
        })().catch((e) => { console.error(e); process.exit(1); });`;
      const out = child(src);
      const ref = child(`${prelude} console.log(JSON.stringify({ out: sample(registerTfjs(tf)) }));`);
      expect(out.workers).to.have.length(5);
      for (const [k, w] of [...out.workers, out.main].entries()) {
        expect(w.path, `run ${k}`).to.equal('tf-op');
        w.out.forEach((v, i) => expect(bits(v), `run ${k}, output ${i}`).to.deep.equal(bits(ref.out[i])));
      }
    });
  });

  describe('bench/tfjs-bench.js --backend tensorflow', function () {
    it('should time the op, the composite and tf.relu, and the training step, per thread setting', function () {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-tfbench-'));
      try {
        const json = path.join(tmp, 'out.json');
        const r = spawnSync(process.execPath, [path.join(root, 'bench', 'tfjs-bench.js'), '--backend', 'tensorflow', '--sizes', '4096',
          '--reps', '1', '--step-reps', '1', '--tf-configs', '1thread,copy,bfc,tcache0', '--json', json], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.match(/\[1thread\] +4096 +fwd: op [\d.]+ ms, composite [\d.]+, relu [\d.]+/);
        const out = JSON.parse(fs.readFileSync(json, 'utf8'));
        const [one, copy, bfc, tcache0] = out.configs;
        expect(one.path.path).to.equal('tf-op');
        expect(copy.path.path).to.equal('copy');
        expect(bfc.path.path).to.equal('tf-op');
        expect(tcache0.path.path).to.equal('tf-op');
        expect(one.threads.env).to.deep.equal({ TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', ARELU_NUM_THREADS: '1', TF_CPU_ALLOCATOR_USE_BFC: null, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? null });
        expect(bfc.threads.env.TF_CPU_ALLOCATOR_USE_BFC).to.equal('true');
        expect(tcache0.threads.env.GLIBC_TUNABLES).to.equal('glibc.malloc.tcache_count=0');
        expect(one.threads.arelu).to.equal(1);
        for (const k of ['forward', 'forwardIntoOp', 'forwardBackward'])
          for (const v of ['opMs', 'compositeMs', 'reluMs']) expect(one.elementwise[0][k][v], `${k}.${v}`).to.be.a('number').and.above(0);
        for (const v of ['areluLayerMs', 'reluMs', 'compositeMs']) expect(one.training[v]).to.be.a('number').and.above(0);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    });
  });
});
