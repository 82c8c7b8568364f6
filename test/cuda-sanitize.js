'use strict';
// A small program for compute-sanitizer (memcheck, racecheck), run by
// bench/device-check.sh on the GPU machine: every layout plan of the CUDA
// kernels (flat, rows, cols; 16-byte and scalar loads; tails), forward and
// backward, sync and async, on small arrays, each checked against the CPU.
// Exits 1 on a wrong result, 2 when no GPU is usable.
const arelu = require('..');

if (!arelu.cuda.isAvailable()) {
  console.error(`cuda-sanitize: no CUDA device: ${arelu.info().cuda.reason}`);
  process.exit(2);
}

const CASES = [
  [[1], undefined], [[4099], undefined], [[70001], undefined],
  [[3, 4, 256], 1], [[2, 3, 130], 1], [[2, 2, 4100 * 2 + 4], 1], [[2, 3, 35], 1],
  [[40, 5, 8], 2], [[64, 3], 1], [[40, 300], 1], [[64, 5, 6], 1], [[64, 4, 8], 1],
  [[2, 3, 13, 13], 1], [[16, 4096], 1], [[2, 14, 14, 512], 3], [[2, 3, 5, 7], 1],
];

function rand(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; a[i] = (s / 2 ** 32) * 8 - 4; }
  return a;
}

async function main() {
  let bad = 0;
  for (const [shape, axis] of CASES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const opts = axis === undefined ? {} : { shape, channelAxis: axis };
    const C = axis === undefined ? 1 : shape[axis];
    const params = axis === undefined ? { alpha: 0.4, beta: 0.3 }
      : { alpha: Float32Array.from({ length: C }, (_, c) => 0.1 + 0.8 * c / C), beta: Float32Array.from({ length: C }, (_, c) => c / C - 0.5) };
    const x = rand(n, n), dy = rand(n, n + 7);
    const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
    const yd = arelu.forward(xd, params, opts);
    const y = yd.download();
    const g = arelu.backward(xd, gd, params, opts);
    const ga = await arelu.backwardAsync(xd, gd, params, opts);
    const cy = arelu.forward(x, params, opts), cg = arelu.backward(x, dy, params, opts);
    const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
    const sums = (v) => (typeof v === 'number' ? [v] : Array.from(v));
    let ok = same(y, cy) && same(g.dx.download(), cg.dx) && same(await ga.dx.downloadAsync(), cg.dx);
    const [a1, b1, a2, b2, ca, cb] = [g.dAlpha, g.dBeta, ga.dAlpha, ga.dBeta, cg.dAlpha, cg.dBeta].map(sums);
    for (let c = 0; c < C; c++) {
      if (a1[c] !== a2[c] || b1[c] !== b2[c]) ok = false;
      if (Math.abs(a1[c] - ca[c]) > 1e-9 * (1 + Math.abs(ca[c])) || Math.abs(b1[c] - cb[c]) > 1e-9 * (1 + Math.abs(cb[c]))) ok = false;
    }
    console.log(`${ok ? 'ok ' : 'BAD'} shape [${shape}] axis ${axis}`);
    if (!ok) bad++;
    for (const b of [xd, gd, yd, g.dx, ga.dx]) b.free();
  }
  process.exit(bad ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
