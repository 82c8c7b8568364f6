#!/usr/bin/env node
// A digest of the bits of y, dx, dAlpha and dBeta on fixed-seed data, per CPU
// instruction set and thread count, so that builds on different platforms can
// be compared (SPEC §1: the same bits everywhere). Loads the package's dist/
// (ARELU_NATIVE_PATH picks the binary).
//
//   node scripts/results-digest.js [--out FILE]
// prints (and writes) {"platform", "arch", "isas": {isa: sha256}, "digest"},
// where digest is the one sha256 all ISAs agree on, or null when they differ.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const arelu = require(path.join(__dirname, '..', 'dist', 'index.js'));
const { mulberry32 } = require(path.join(__dirname, '..', 'bench', 'lib', 'rng.js'));

const outIdx = process.argv.indexOf('--out');
const outFile = outIdx > 0 ? process.argv[outIdx + 1] : null;

function f32bits(u) {
  return new Float32Array(new Uint32Array([u]).buffer)[0];
}

function data(n, seed) {
  const rnd = mulberry32(seed);
  const x = new Float32Array(n);
  const dy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = (rnd() - 0.5) * 8 * Math.pow(2, Math.floor(rnd() * 20) - 10);
    dy[i] = (rnd() - 0.5) * 2;
  }
  // Edge values at fixed places: zeros, subnormals, infinities, the largest floats.
  const specials = [0, -0, f32bits(1), -f32bits(1), f32bits(0x007fffff), Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38];
  for (let k = 0; k < specials.length; k++) x[1000 + 7 * k] = specials[k];
  return { x, dy };
}

// The coefficient path over many betas: forward(1) = b, and dBeta of x = 1, g = 1
// is s(1 - s) (one element per call, per channel: C betas at once).
function betaSweep() {
  const betas = [];
  for (let u = 0; u <= 0x41f00000; u += 0x41f00000 / 4096 | 0) { betas.push(f32bits(u)); betas.push(-f32bits(u)); }
  betas.push(100, -100, 88.7, -103.9, 745.5, -745.5, 1e-30, -1e-30, Infinity, -Infinity);
  const beta = new Float32Array(betas);
  const C = beta.length;
  const alpha = new Float32Array(C).fill(0.5);
  const x = new Float32Array(C).fill(1);
  const y = arelu.forward(x, { alpha, beta }, { shape: [C], channelAxis: 0 });
  const g = arelu.backward(x, x, { alpha, beta }, { shape: [C], channelAxis: 0 });
  return [y, g.dx, g.dAlpha, g.dBeta];
}

function run() {
  const parts = [];
  const n = 100003;
  const { x, dy } = data(n, 12345);
  for (const [alpha, beta] of [[0.9, 2], [0.25, -3.7], [0.5, 0.1234], [0.01, 17], [0.99, -25], [1.5, 1e-30]]) {
    parts.push(arelu.forward(x, { alpha, beta }));
    const g = arelu.backward(x, dy, { alpha, beta });
    parts.push(g.dx, new Float64Array([g.dAlpha, g.dBeta]));
  }
  // Per channel, NCHW and NHWC.
  const C = 7;
  const rnd = mulberry32(777);
  const alpha = new Float32Array(C).map(() => rnd());
  const beta = new Float32Array(C).map(() => (rnd() - 0.5) * 20);
  const m = 7 * 14287; // = 100009
  const d2 = data(m, 999);
  for (const opts of [{ shape: [1, C, 14287], channelAxis: 1 }, { shape: [14287, C], channelAxis: 1 }]) {
    parts.push(arelu.forward(d2.x, { alpha, beta }, opts));
    const g = arelu.backward(d2.x, d2.dy, { alpha, beta }, opts);
    parts.push(g.dx, g.dAlpha, g.dBeta);
  }
  parts.push(...betaSweep());
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

const info = arelu.info();
const isas = {};
for (const isa of info.isasSupported) {
  arelu.setCpuIsa(isa);
  for (const threads of [1, 3]) {
    arelu.setNumThreads(threads);
    isas[`${isa}/${threads}`] = run();
  }
}
const values = [...new Set(Object.values(isas))];
const result = { platform: process.platform, arch: process.arch, node: process.version, isas, digest: values.length === 1 ? values[0] : null };
const text = JSON.stringify(result);
if (outFile) fs.writeFileSync(outFile, text + '\n');
console.log(text);
process.exit(result.digest ? 0 : 1);
