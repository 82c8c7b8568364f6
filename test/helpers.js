'use strict';
// Shared test helpers: a seeded PRNG (the seed is printed so a failure can be
// replayed with ARELU_TEST_SEED), a float64 reference of SPEC §1, float32
// ulp distance, and output poisoning.

const { mulberry32 } = require('../bench/lib/rng');

const seed = process.env.ARELU_TEST_SEED ? Number(process.env.ARELU_TEST_SEED) : (Date.now() % 2 ** 31);
const random = mulberry32(seed);

function randomArray(n, lo = -4, hi = 4) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * random();
  return a;
}

const f32 = Math.fround;
const relu = (v) => (Number.isNaN(v) ? v : v > 0 ? v : 0);

/** Float64 coefficients of SPEC §1 from float32-rounded parameters. */
function coeffs(alpha, beta) {
  const al = f32(alpha), be = f32(beta);
  const lo = f32(0.01), hi = f32(0.99);
  const a = Number.isNaN(al) ? NaN : al < lo ? lo : al > hi ? hi : al;
  const s = 1 / (1 + Math.exp(-be));
  return { a, b: 1 + s, s, live: lo <= al && al <= hi };
}

/** Float64 reference: y, dx and the parameter gradients (per channel). */
function reference(x, dy, alpha, beta, channels = 1, inner = x.length) {
  const C = channels;
  const al = typeof alpha === 'number' ? new Array(C).fill(alpha) : Array.from(alpha);
  const be = typeof beta === 'number' ? new Array(C).fill(beta) : Array.from(beta);
  const co = al.map((a, c) => coeffs(a, be[c]));
  const n = x.length;
  const y = new Float64Array(n), dx = new Float64Array(n);
  const sa = new Float64Array(C), sb = new Float64Array(C), mag = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    const c = C === 1 ? 0 : Math.floor(i / inner) % C;
    const { a, b } = co[c];
    const xi = x[i];
    y[i] = relu(xi) * b - relu(-xi) * a;
    if (dy) {
      const g = dy[i];
      dx[i] = Number.isNaN(xi) ? NaN : xi > 0 ? g * b : xi < 0 ? g * a : 0;
      sa[c] += g * relu(-xi);
      sb[c] += g * relu(xi);
      mag[c] += Math.abs(g * xi);
    }
  }
  const dAlpha = co.map((k, c) => (k.live ? -sa[c] : 0));
  const dBeta = co.map((k, c) => sb[c] * k.s * (1 - k.s));
  return { y, dx, dAlpha, dBeta, mag: Array.from(mag) };
}

const fbuf = new Float32Array(1);
const ibuf = new Int32Array(fbuf.buffer);
function orderedBits(v) {
  fbuf[0] = v;
  const i = ibuf[0];
  return i < 0 ? -2147483648 - i : i;
}

/** Float32 ulps between got (float32) and want (float64, rounded first). */
function ulps(got, want) {
  return Math.abs(orderedBits(got) - orderedBits(f32(want)));
}

/** Index of the first element of got that is not within maxUlps of want, or -1. */
function firstMismatch(got, want, maxUlps = 2) {
  for (let i = 0; i < want.length; i++) {
    const w = want[i], g = got[i];
    if (Number.isNaN(w)) { if (!Number.isNaN(g)) return i; continue; }
    if (w === 0) { if (g !== 0) return i; continue; }
    if (!Number.isFinite(w)) { if (g !== f32(w)) return i; continue; }
    if (!(ulps(g, w) <= maxUlps)) return i;
  }
  return -1;
}

function sumClose(got, want, mag) {
  if (Number.isNaN(want)) return Number.isNaN(got);
  if (got === want) return true;
  if (!Number.isFinite(want)) return false;
  return Math.abs(got - want) <= 1e-9 * mag;
}

/** A signalling-looking NaN pattern that no kernel produces. */
const POISON_BITS = 0x7fa5a5a5;
function poisoned(n) {
  const a = new Float32Array(n);
  new Int32Array(a.buffer).fill(POISON_BITS);
  return a;
}
function countPoison(a) {
  const v = new Int32Array(a.buffer, a.byteOffset, a.length);
  let k = 0;
  for (let i = 0; i < v.length; i++) if (v[i] === POISON_BITS) k++;
  return k;
}

const EDGE_X = [0, -0, 1, -1, Infinity, -Infinity, NaN, 1.401298464324817e-45, -1.401298464324817e-45,
  3.4028234663852886e38, -3.4028234663852886e38, 1e-30, -1e-30, 3.5, -2.25];
const EDGE_G = [1, -1, 0, -0, 2.5, Infinity, -Infinity, NaN, 1.401298464324817e-45, 3.4028234663852886e38];
const EDGE_PARAMS = [
  [0.9, 2], [0, 0], [-1, 1], [1.5, -3], [0.01, 0], [0.99, 0], [0.009999, 1], [0.990001, 1],
  [NaN, 1], [0.5, NaN], [0.5, Infinity], [0.5, -Infinity], [Infinity, 0], [-Infinity, 0], [0.25, 40], [0.25, -40]];

/**
 * Runs `workerMain` (a function: it loads arelu from its workerData, queues
 * calls and exits at once) in `count` workers, one after the other, in a
 * fresh Node process whose main thread never loads arelu: the addon is then
 * closed when each worker goes while its own threads live on. Returns
 * spawnSync's result; the process prints 'alive' after the last worker.
 */
function runExitingWorkers(workerMain, count) {
  const { spawnSync } = require('child_process');
  const root = require('path').join(__dirname, '..');
  const script = `
    const { Worker } = require('worker_threads');
    let left = ${count};
    const one = () => {
      const w = new Worker('(' + ${JSON.stringify(String(workerMain))} + ')()', { eval: true, workerData: ${JSON.stringify(root)} });
      w.on('error', (e) => { console.log('worker error: ' + e); process.exitCode = 1; });
      w.on('exit', () => (--left > 0 ? one() : setTimeout(() => console.log('alive'), 200)));
    };
    one();`;
  return spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 60000 });
}

module.exports = {
  seed, random, mulberry32, randomArray, reference, coeffs, ulps, firstMismatch, sumClose, poisoned, countPoison,
  EDGE_X, EDGE_G, EDGE_PARAMS, f32, runExitingWorkers,
};

if (!process.env.ARELU_TEST_SEED_PRINTED) {
  process.env.ARELU_TEST_SEED_PRINTED = '1';
  console.log(`  (random inputs: ARELU_TEST_SEED=${seed})`);
}
