'use strict';
// The tensorflow-backend (tfjs-node) rows of bench/tfjs-bench.js (issue 10):
// the arelu op against AReLU in tfjs ops and tf.relu, at 64K/1M/4M elements,
// forward, forward into a TF op (tf.sum), forward+backward; and one SGD step of
// dense 784->512 -> activation -> dense 512->10 on a batch of 256 with the AReLU
// layer, ReLU, and the composite layer. One process per thread setting (TF's
// threads are fixed when tfjs-node loads): `defaults`, and `1 thread` (1 TF
// intra-op + 1 inter-op thread, 1 arelu thread); optionally the copy path and
// `bfc` (default threads with TensorFlow's pooled CPU allocator).
const path = require('path');
const fs = require('fs');
const { spawnSync } = require('child_process');
const { compositeArelu, compositeAReLULayer } = require('./tfjs-composite');

const root = path.join(__dirname, '..', '..');
const CONFIGS = {
  defaults: { env: {}, what: 'default threads (TF and arelu)' },
  '1thread': { env: { TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', ARELU_NUM_THREADS: '1' }, what: '1 TF intra-op + 1 inter-op thread, 1 arelu thread' },
  copy: { env: { ARELU_TFJS_TF_OP: '0' }, what: 'copy path forced (ARELU_TFJS_TF_OP=0), default threads' },
  // TensorFlow's own pooled CPU allocator instead of malloc for its tensors:
  // freeing a multi-MB tensor then never trims glibc's heap (see
  // bench/RESULTS.md, "tfjs-node: default threads at 4M").
  bfc: { env: { TF_CPU_ALLOCATOR_USE_BFC: 'true' }, what: 'default threads, TF_CPU_ALLOCATOR_USE_BFC=true (TF\'s pooled CPU allocator)' },
  // The control for the 4M forward rows: which op pays glibc's heap trim
  // depends on the heap's state, here changed by turning glibc's tcache
  // off; the trim then tends to land on tf.relu (bench/RESULTS.md, fourth session).
  tcache0: { env: { GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0' }, what: 'default threads, glibc\'s tcache off (GLIBC_TUNABLES=glibc.malloc.tcache_count=0)' },
};

function median(a) { const s = [...a].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }
const now = () => Number(process.hrtime.bigint()) / 1e6;

// Interleaved rounds: each round times every variant once, so load shifts hit all alike.
// Returns the median wall times; the median CPU times (all threads of the process,
// user + system) go into race.cpu: on a loaded machine they move less than wall
// time does when a thread waits for a core (but count TF's spinning pool threads).
function race(variants, reps) {
  const t = variants.map(() => []), c = variants.map(() => []);
  for (let r = 0; r < reps + 1; r++)
    variants.forEach((v, i) => {
      const c0 = process.cpuUsage(), t0 = now();
      v();
      const t1 = now(), dc = process.cpuUsage(c0);
      if (r > 0) { t[i].push(t1 - t0); c[i].push((dc.user + dc.system) / 1000); }  // round 0 warms up
    });
  race.cpu = c.map(median);
  return t.map(median);
}

function osThreads() {
  try { return Number(/Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]); } catch { return null; }
}

/** One configuration, in this process (tfjs-node is loaded here). */
function runConfig(name, o) {
  process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL || '2';
  const tf = require(require.resolve('@tensorflow/tfjs-node', { paths: [root] }));
  const arelu = require(path.join(root, 'dist', 'index'));
  const { registerTfjs } = require(path.join(root, 'dist', 'tfjs'));
  const { arelu: op, AReLU, backends } = registerTfjs(tf);
  const a = tf.scalar(0.9), b = tf.scalar(2);
  const composite = (x, a, b) => compositeArelu(tf, x, a, b);
  const relu = (x) => tf.relu(x);

  // Whether the thread settings took effect: the process's OS threads after TF's pools
  // started (and tf.relu's time in the rows, which runs on TF's intra-op pool).
  tf.tidy(() => tf.relu(tf.add(tf.ones([1 << 20]), 0)).dataSync());
  const threadsAfterStart = osThreads();
  const elementwise = [];
  for (const n of o.sizes) {
    const x = tf.add(tf.randomNormal([n / 64, 64], 0, 1, 'float32', 1), 0);  // resident in TensorFlow, as a layer's output
    const dy = tf.add(tf.randomNormal([n / 64, 64], 0, 1, 'float32', 2), 0);
    const fwd = (f) => () => tf.tidy(() => { f(x, a, b); });
    const intoOp = (f) => () => tf.tidy(() => { tf.sum(f(x, a, b)).dataSync(); });
    const fb = (f) => () => tf.tidy(() => {
      const g = tf.grads((x, a, b) => f(x, a, b))([x, a, b], dy);
      g[1].dataSync();  // the scalar parameter gradient: forces nothing but ends the step like an optimizer would
    });
    const fbRelu = () => tf.tidy(() => { tf.grad((x) => tf.relu(x))(x, dy); });
    const cpu = (names) => Object.fromEntries(names.map((k, i) => [k, race.cpu[i]]));
    const [opF, compF, reluF] = race([fwd(op), fwd(composite), fwd(relu)], o.reps);
    const cpuF = cpu(['op', 'composite', 'relu']);
    const [opS, compS, reluS] = race([intoOp(op), intoOp(composite), intoOp(relu)], o.reps);
    const cpuS = cpu(['op', 'composite', 'relu']);
    const [opFB, compFB, reluFB] = race([fb(op), fb(composite), fbRelu], o.reps);
    const cpuFB = cpu(['op', 'composite', 'relu']);
    const row = {
      n,
      forward: { opMs: opF, compositeMs: compF, reluMs: reluF, opOverRelu: opF / reluF, speedup: compF / opF, cpuMs: cpuF },
      forwardIntoOp: { opMs: opS, compositeMs: compS, reluMs: reluS, opOverRelu: opS / reluS, speedup: compS / opS, cpuMs: cpuS },
      forwardBackward: { opMs: opFB, compositeMs: compFB, reluMs: reluFB, speedup: compFB / opFB, cpuMs: cpuFB },
    };
    elementwise.push(row);
    const f = (v) => v.toFixed(2);
    console.log(`  [${name}] ${String(n).padStart(8)}  fwd: op ${f(opF)} ms, composite ${f(compF)}, relu ${f(reluF)} (op/relu ${f(opF / reluF)}, ${f(compF / opF)}x faster than composite)`);
    console.log(`  [${name}] ${' '.repeat(8)}  fwd->sum: op ${f(opS)} ms, composite ${f(compS)}, relu ${f(reluS)} (op/relu ${f(opS / reluS)}, ${f(compS / opS)}x)   fwd+bwd: op ${f(opFB)} ms, composite ${f(compFB)}, relu ${f(reluFB)} (${f(compFB / opFB)}x)`);
    tf.dispose([x, dy]);
  }

  // The training step of the issue: dense 784->512, activation, dense 512->10, batch 256, SGD.
  const CompositeAReLU = compositeAReLULayer(tf);
  const mlp = (act) => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [784], units: 512, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
        act(),
        tf.layers.dense({ units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    const opt = tf.train.sgd(1e-2);
    return { m, opt, vars: m.trainableWeights.map((w) => w.read()) };
  };
  const xb = tf.randomUniform([256, 784], 0, 1, 'float32', 3);
  const yb = tf.oneHot(tf.tensor1d(Array.from({ length: 256 }, (_, i) => i % 10), 'int32'), 10);
  const models = [mlp(() => new AReLU()), mlp(() => tf.layers.reLU()), mlp(() => new CompositeAReLU())];
  const step = ({ m, opt, vars }) => () => tf.tidy(() => {
    opt.minimize(() => tf.losses.softmaxCrossEntropy(yb, m.apply(xb, { training: true })), true, vars).dataSync();
  });
  const [areluStep, reluStep, compStep] = race(models.map(step), o.stepReps);
  const training = {
    model: 'dense 784->512, activation, dense 512->10; batch 256; SGD',
    areluLayerMs: areluStep, reluMs: reluStep, compositeMs: compStep, areluOverRelu: areluStep / reluStep,
    cpuMs: { areluLayer: race.cpu[0], relu: race.cpu[1], composite: race.cpu[2] },
  };
  console.log(`  [${name}] training step: AReLU layer ${areluStep.toFixed(2)} ms, ReLU ${reluStep.toFixed(2)} ms, composite ${compStep.toFixed(2)} ms (AReLU/ReLU ${(areluStep / reluStep).toFixed(3)}; ` +
    `CPU time ${training.cpuMs.areluLayer.toFixed(1)} / ${training.cpuMs.relu.toFixed(1)} / ${training.cpuMs.composite.toFixed(1)} ms)`);
  models.forEach(({ m, opt }) => { m.dispose(); opt.dispose(); });
  tf.dispose([xb, yb, a, b]);

  const info = arelu.info();
  return {
    config: name, what: CONFIGS[name].what, path: backends.tensorflow, elementwise, training,
    threads: {
      env: Object.fromEntries(['TF_NUM_INTRAOP_THREADS', 'TF_NUM_INTEROP_THREADS', 'ARELU_NUM_THREADS', 'TF_CPU_ALLOCATOR_USE_BFC', 'GLIBC_TUNABLES'].map((k) => [k, process.env[k] ?? null])),
      arelu: info.threads, osThreads: threadsAfterStart,
    },
    tfjsNode: require(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [root] })).version,
  };
}

/** All configurations, each in its own process; returns their results. */
function runTensorflowRows(o) {
  const out = [];
  for (const name of o.configs) {
    if (!CONFIGS[name]) throw new Error(`unknown tensorflow config '${name}' (${Object.keys(CONFIGS).join(', ')})`);
    console.log(`== tensorflow backend (tfjs-node), ${CONFIGS[name].what}`);
    const r = spawnSync(process.execPath, [__filename, name, JSON.stringify(o)], {
      stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', env: { ...process.env, ...CONFIGS[name].env }, maxBuffer: 16 << 20,
    });
    const lines = (r.stdout || '').replace(/\s+$/, '').split('\n');
    const last = lines.pop();
    if (lines.length) console.log(lines.join('\n'));
    if (r.status !== 0) throw new Error(`the ${name} run failed (exit ${r.status}): ${last}`);
    out.push(JSON.parse(last));
  }
  return out;
}

if (require.main === module) {
  const [name, opts] = process.argv.slice(2);
  console.log(JSON.stringify(runConfig(name, JSON.parse(opts))));
}

module.exports = { runTensorflowRows, CONFIGS };
