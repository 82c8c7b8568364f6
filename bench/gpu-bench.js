#!/usr/bin/env node
'use strict';
// GPU benchmark of the CUDA path (run by bench/device-check.sh on the GPU
// machine; runs anywhere and says so when no GPU is usable).
//
// Device-resident: forward and backward on DeviceBuffers, 1M..1G elements,
// in GB/s of bytes that must move (forward 8 B/element: x read, y written;
// backward 12 B/element: x, dy read, dx written), against a device-to-device
// copy (8 B/element) measured in the same process, same sizes. Each figure
// is the median over --reps repetitions of --calls back-to-back calls
// followed by one synchronize (host clock around the batch), and again
// with CUDA events around the batch (GPU clock, as bench/torch_baseline.py
// times PyTorch; backward then queued with backwardAsync, so the GPU time
// has no host waits in it): *EvGBs / *EvMs.
// Host arrays: Float32Array in and out, transfers included (upload x [and
// dy], compute, download), beside the CPU path on the same arrays.
//
// Usage: node bench/gpu-bench.js [--sizes 1M,16M,64M,256M,1G] [--host-sizes 16M,256M]
//                                [--reps 7] [--calls 10] [--out file.json]
const arelu = require('..');
const { native } = require('../dist/native');

function parseSize(s) {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new RangeError(`Expected a size like 16M for --sizes but received '${s}'`);
  return Number(m[1]) * { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 }[m[2].toUpperCase()];
}
function fmtSize(n) {
  for (const [u, v] of [['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]]) if (n >= v && n % v === 0) return `${n / v}${u}`;
  return String(n);
}

function parseArgs(argv) {
  const o = { sizes: '1M,16M,64M,256M,1G', hostSizes: '16M,256M', reps: 7, calls: 10, out: null, layoutSize: '256M' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--sizes') o.sizes = v();
    else if (a === '--host-sizes') o.hostSizes = v();
    else if (a === '--layout-size') o.layoutSize = v();
    else if (a === '--reps') o.reps = Number(v());
    else if (a === '--calls') o.calls = Number(v());
    else if (a === '--out') o.out = v();
    else throw new RangeError(`unknown option ${a}`);
  }
  o.sizes = o.sizes.split(',').map(parseSize);
  o.hostSizes = o.hostSizes ? o.hostSizes.split(',').map(parseSize) : [];
  o.layoutSize = parseSize(o.layoutSize);
  return o;
}

const { timeBatch, timeEvents, fillRandom, deviceBuffers } = require('./lib/gpu-timing');

function main() {
  const o = parseArgs(process.argv.slice(2));
  const info = arelu.info();
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    arelu: info.version,
    cpu: { isa: info.isa, threads: info.threads },
    cuda: info.cuda,
    method: `median of ${o.reps} batches of ${o.calls} calls + one synchronize (host clock); *Ev*: the same batches timed with CUDA events (GPU clock, backward queued with backwardAsync), as the PyTorch baseline is timed; GB/s = bytes that must move / time; copy = device-to-device cudaMemcpyAsync of the same bytes`,
    device: [],
    layouts: [],
    host: [],
  };
  const log = (s) => process.stderr.write(`${s}\n`);
  if (!arelu.cuda.isAvailable()) {
    report.skipped = `no CUDA device: ${info.cuda.reason}`;
    log(`gpu-bench: ${report.skipped}`);
    return finish(report, o);
  }
  const sync = () => native.cuda.synchronize(0);
  const gbs = (bytes, t) => bytes / t / 1e9;
  // Fresh buffers per size (DeviceBuffers have no views).
  for (const n of o.sizes) {
    const [xd, gd, yd] = deviceBuffers(arelu, n);
    const p = { alpha: 0.3, beta: 0.7 };
    const copy = timeBatch(() => native.cuda.copy(yd.handle, xd.handle), sync, o.reps, o.calls);
    const fwd = timeBatch(() => arelu.forward(xd, p, { out: yd }), sync, o.reps, o.calls);
    const bwd = timeBatch(() => arelu.backward(xd, gd, p, { out: yd }), sync, o.reps, o.calls);
    // The same on the GPU's clock; backward queued without host waits.
    const queueBwd = () => {
      native.cuda.backwardAsync(xd.handle, gd.handle, yd.handle, p.alpha, p.beta, 1, 1, new Float64Array(2)).catch((e) => log(`backwardAsync: ${e.message}`));
    };
    const copyEv = timeEvents(() => native.cuda.copy(yd.handle, xd.handle), o.reps, o.calls);
    const fwdEv = timeEvents(() => arelu.forward(xd, p, { out: yd }), o.reps, o.calls);
    const bwdEv = timeEvents(queueBwd, o.reps, o.calls);
    // forwardAsync: the same kernel as forward, plus a job per call (the
    // promise's completion), queued without host waits.
    const fwdAsyncEv = timeEvents(() => { arelu.forwardAsync(xd, p, { out: yd }).catch((e) => log(`forwardAsync: ${e.message}`)); }, o.reps, o.calls);
    const row = {
      n, size: fmtSize(n),
      copyGBs: gbs(8 * n, copy.median), forwardGBs: gbs(8 * n, fwd.median), backwardGBs: gbs(12 * n, bwd.median),
      copyMs: copy.median * 1e3, forwardMs: fwd.median * 1e3, backwardMs: bwd.median * 1e3,
      copyEvGBs: gbs(8 * n, copyEv.median), forwardEvGBs: gbs(8 * n, fwdEv.median), backwardEvGBs: gbs(12 * n, bwdEv.median),
      copyEvMs: copyEv.median * 1e3, forwardEvMs: fwdEv.median * 1e3, backwardEvMs: bwdEv.median * 1e3,
      forwardAsyncEvMs: fwdAsyncEv.median * 1e3,
    };
    row.forwardEvOfCopy = row.forwardEvGBs / row.copyEvGBs;
    row.backwardEvOfCopy = row.backwardEvGBs / row.copyEvGBs;
    row.forwardOfCopy = row.forwardGBs / row.copyGBs;
    row.backwardOfCopy = row.backwardGBs / row.copyGBs;
    report.device.push(row);
    log(`device ${row.size.padStart(5)}: copy ${row.copyGBs.toFixed(0)} GB/s, forward ${row.forwardGBs.toFixed(0)} GB/s (${(100 * row.forwardOfCopy).toFixed(1)}%), backward ${row.backwardGBs.toFixed(0)} GB/s (${(100 * row.backwardOfCopy).toFixed(1)}%)`);
    log(`  events: copy ${row.copyEvGBs.toFixed(0)} GB/s, forward ${(100 * row.forwardEvOfCopy).toFixed(1)}%, backward (queued) ${(100 * row.backwardEvOfCopy).toFixed(1)}% of copy`);
    // Per-channel layouts at one size.
    if (n === o.layoutSize) {
      for (const [name, shape, axis, C] of [
        ['NCHW C=64', [n / 2 ** 18, 64, 64, 64], 1, 64],
        ['NHWC C=64', [n / 2 ** 18, 64, 64, 64], 3, 64],
        ['NHWC C=512', [n / 2 ** 19, 32, 32, 512], 3, 512],
      ]) {
        const total = shape.reduce((a, b) => a * b, 1);
        if (total !== n || !Number.isInteger(shape[0])) continue;
        const pc = { alpha: new Float32Array(C).fill(0.3), beta: new Float32Array(C).fill(0.7) };
        const opts = { shape, channelAxis: axis };
        const f = timeBatch(() => arelu.forward(xd, pc, { ...opts, out: yd }), sync, o.reps, o.calls);
        const b = timeBatch(() => arelu.backward(xd, gd, pc, { ...opts, out: yd }), sync, o.reps, o.calls);
        const fEv = timeEvents(() => { arelu.forwardAsync(xd, pc, { ...opts, out: yd }).catch((e) => log(`forwardAsync: ${e.message}`)); }, o.reps, o.calls);
        const bEv = timeEvents(() => { arelu.backwardAsync(xd, gd, pc, { ...opts, out: yd }).catch((e) => log(`backwardAsync: ${e.message}`)); }, o.reps, o.calls);
        const lr = { layout: name, n, size: fmtSize(n), forwardGBs: gbs(8 * n, f.median), backwardGBs: gbs(12 * n, b.median), copyGBs: row.copyGBs };
        lr.forwardOfCopy = lr.forwardGBs / lr.copyGBs;
        lr.backwardOfCopy = lr.backwardGBs / lr.copyGBs;
        lr.forwardEvMs = fEv.median * 1e3;
        lr.backwardEvMs = bEv.median * 1e3;
        lr.forwardEvOfCopy = gbs(8 * n, fEv.median) / row.copyEvGBs;
        lr.backwardEvOfCopy = gbs(12 * n, bEv.median) / row.copyEvGBs;
        report.layouts.push(lr);
        log(`  ${name}: forward ${lr.forwardGBs.toFixed(0)} GB/s (${(100 * lr.forwardOfCopy).toFixed(1)}%), backward ${lr.backwardGBs.toFixed(0)} GB/s (${(100 * lr.backwardOfCopy).toFixed(1)}%); events (async, queued): forward ${(100 * lr.forwardEvOfCopy).toFixed(1)}%, backward ${(100 * lr.backwardEvOfCopy).toFixed(1)}% of copy`);
      }
    }
    for (const b of [xd, gd, yd]) b.free();
  }
  // Host arrays in and out: transfers included, beside the CPU path.
  for (const n of o.hostSizes) {
    const x = fillRandom(new Float32Array(n)), dy = fillRandom(new Float32Array(n)).reverse(), out = new Float32Array(n);
    const p = { alpha: 0.3, beta: 0.7 };
    const reps = Math.max(3, Math.min(o.reps, n > 2 ** 26 ? 3 : o.reps));
    const gpuF = timeBatch(() => { const xd = arelu.cuda.upload(x); arelu.forward(xd, p, { out: xd }); xd.download(out); xd.free(); }, () => {}, reps, 1);
    const gpuB = timeBatch(() => {
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
      arelu.backward(xd, gd, p, { out: gd }); gd.download(out); xd.free(); gd.free();
    }, () => {}, reps, 1);
    const cpuF = timeBatch(() => arelu.forward(x, p, { out }), () => {}, reps, 1);
    const cpuB = timeBatch(() => arelu.backward(x, dy, p, { out }), () => {}, reps, 1);
    const hostCopy = timeBatch(() => out.set(x), () => {}, reps, 1);
    const row = {
      n, size: fmtSize(n),
      gpuForwardMs: gpuF.median * 1e3, gpuBackwardMs: gpuB.median * 1e3,
      cpuForwardMs: cpuF.median * 1e3, cpuBackwardMs: cpuB.median * 1e3, hostCopyMs: hostCopy.median * 1e3,
    };
    report.host.push(row);
    log(`host   ${row.size.padStart(5)}: GPU with transfers forward ${row.gpuForwardMs.toFixed(1)} ms, backward ${row.gpuBackwardMs.toFixed(1)} ms; CPU (${info.threads} threads) forward ${row.cpuForwardMs.toFixed(1)} ms, backward ${row.cpuBackwardMs.toFixed(1)} ms; host copy ${row.hostCopyMs.toFixed(1)} ms`);
  }
  return finish(report, o);
}

function finish(report, o) {
  const text = JSON.stringify(report, null, 2);
  if (o.out) require('fs').writeFileSync(o.out, text + '\n');
  else process.stdout.write(text + '\n');
  return 0;
}

process.exitCode = main();
