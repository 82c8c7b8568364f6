'use strict';
// worker_threads (context-aware addon), the thread pool size, the
// environment variables of SPEC §3, and 64-bit lengths.
const { expect } = require('chai');
const { Worker } = require('worker_threads');
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');
const arelu = require('..');
const h = require('./helpers');

const ROOT = path.join(__dirname, '..');

function runNode(code, env) {
  return spawnSync(process.execPath, ['-e', code], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
}

describe('Threads and environment', function () {
  it('computes in 4 worker threads at once, each matching the main thread', async function () {
    const n = 1 << 20;
    const src = `
      const { parentPort, workerData } = require('worker_threads');
      const arelu = require(${JSON.stringify(ROOT)});
      const { x, dy, alpha } = workerData;
      let last;
      for (let k = 0; k < 5; k++) last = arelu.backward(x, dy, { alpha });
      parentPort.postMessage({ y: arelu.forward(x, { alpha }), dx: last.dx, dAlpha: last.dAlpha, dBeta: last.dBeta });`;
    const jobs = [0.1, 0.3, 0.5, 0.7].map((alpha) => ({ x: h.randomArray(n), dy: h.randomArray(n), alpha }));
    const results = await Promise.all(jobs.map((data) => new Promise((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: data });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    results.forEach((r, i) => {
      const { x, dy, alpha } = jobs[i];
      const want = arelu.backward(x, dy, { alpha });
      expect(r.y).to.deep.equal(arelu.forward(x, { alpha }));
      expect(r.dx).to.deep.equal(want.dx);
      expect(r.dAlpha).to.equal(want.dAlpha);
      expect(r.dBeta).to.equal(want.dBeta);
    });
  });

  it('runs small calls from 4 worker threads at once (serial jobs, pooled per-channel workspaces), each matching the main thread', async function () {
    // Small calls run on their caller without the pool's job lock, so these
    // really overlap; per-channel ones lease workspaces from a shared pool.
    const n = 4096, C = 8, opts = { shape: [n / C, C], channelAxis: 1 };
    const src = `
      const { parentPort, workerData } = require('worker_threads');
      const arelu = require(${JSON.stringify(ROOT)});
      const { x, dy, alpha, beta } = workerData;
      const opts = { shape: [${n / C}, ${C}], channelAxis: 1 };
      let s, p;
      for (let k = 0; k < 300; k++) {
        s = arelu.backward(x, dy, { alpha: alpha[0] });
        p = arelu.backward(x, dy, { alpha, beta }, opts);
      }
      parentPort.postMessage({ dx: s.dx, dAlpha: s.dAlpha, pdx: p.dx, pdAlpha: Array.from(p.dAlpha), pdBeta: Array.from(p.dBeta),
        y: arelu.forward(x, { alpha, beta }, opts) });`;
    const jobs = [0.1, 0.3, 0.5, 0.7].map((a) => ({
      x: h.randomArray(n), dy: h.randomArray(n),
      alpha: Float32Array.from({ length: C }, (_, c) => a + 0.01 * c), beta: Float32Array.from({ length: C }, (_, c) => c - 3) }));
    const results = await Promise.all(jobs.map((data) => new Promise((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: data });
      w.once('message', resolve);
      w.once('error', reject);
    })));
    results.forEach((r, i) => {
      const { x, dy, alpha, beta } = jobs[i];
      const s = arelu.backward(x, dy, { alpha: alpha[0] });
      const p = arelu.backward(x, dy, { alpha, beta }, opts);
      expect(r.dx).to.deep.equal(s.dx);
      expect(r.dAlpha).to.equal(s.dAlpha);
      expect(r.pdx).to.deep.equal(p.dx);
      expect(r.pdAlpha).to.deep.equal(Array.from(p.dAlpha));
      expect(r.pdBeta).to.deep.equal(Array.from(p.dBeta));
      expect(r.y).to.deep.equal(arelu.forward(x, { alpha, beta }, opts));
    });
  });

  it('survives workers that load the addon, queue async calls and exit at once (the addon loaded in no other thread)', function () {
    // Each worker exits with calls in flight: their completions reach an
    // environment that can no longer run JS (node-addon-api's exception
    // aborted the process), and with the last environment that loaded it
    // gone Node closes the addon while its pool threads live on (nodelete).
    function workerMain() {
      const arelu = require(require('worker_threads').workerData);
      const n = 1 << 21, x = new Float32Array(n).fill(1), y = new Float32Array(n);
      arelu.backward(x, x, {}, { out: y });  // wakes the pool
      for (let i = 0; i < 8; i++) {
        arelu.backwardAsync(x, x, {}, { out: y }).catch(() => {});
        arelu.forwardAsync(x, { alpha: [0.5] }, { out: y, shape: [n], channelAxis: 0 }).catch(() => {});
      }
      setTimeout(() => process.exit(0), 0);
    }
    const r = h.runExitingWorkers(workerMain, 12);
    expect(r.status, `exit ${r.status} (${r.signal}): ${r.stderr}`).to.equal(0);
    expect(r.stdout.trim()).to.equal('alive');
  });

  it('wakes no pool thread for small arrays, and uses the pool for large ones', function () {
    const native = require('../dist/native').native;
    arelu.setNumThreads(4);
    try {
      const { forward: fwdBelow, backward: bwdBelow } = arelu.info().serialBelow;
      const before = native.info().parallelJobs;
      const small = h.randomArray(Math.min(fwdBelow, bwdBelow) - 1);
      for (let k = 0; k < 5; k++) { arelu.forward(small); arelu.backward(small, small); }
      arelu.forward(h.randomArray(fwdBelow - 1));
      arelu.backward(h.randomArray(bwdBelow - 1), h.randomArray(bwdBelow - 1));
      expect(native.info().parallelJobs).to.equal(before);
      const idle = arelu.info().idleSerialBelow;
      const large = h.randomArray(Math.max(idle.forward, idle.backward));
      arelu.forward(large);
      arelu.backward(large, large);
      expect(native.info().parallelJobs).to.equal(before + 2);
    } finally {
      arelu.setNumThreads(os.availableParallelism());
    }
  });

  it('scales the idle thresholds with the pool size: T / (2 (T - 1)) of the 2-thread ones, never under serialBelow', function () {
    try {
      arelu.setNumThreads(2);
      const two = arelu.info().idleSerialBelow, serial = arelu.info().serialBelow;
      arelu.setNumThreads(1);
      expect(arelu.info().idleSerialBelow).to.deep.equal(two);
      let last = two;
      for (const t of [3, 4, 8, 16, 64]) {
        arelu.setNumThreads(t);
        const idle = arelu.info().idleSerialBelow;
        for (const op of ['forward', 'backward']) {
          expect(idle[op], `${op}, ${t} threads`).to.equal(Math.max(Math.floor(two[op] / (2 * (t - 1))) * t, serial[op]));
          expect(idle[op]).to.be.at.most(last[op]).and.at.least(serial[op]);
        }
        last = idle;
      }
      expect(last.backward).to.be.below(two.backward);
    } finally {
      arelu.setNumThreads(os.availableParallelism());
    }
  });

  it('uses the pool for mid-size arrays only while it is awake: in a loop of calls, not for a lone call', function () {
    const { serialBelow, idleSerialBelow, spinUs } = arelu.info();
    expect(serialBelow.backward).to.be.below(idleSerialBelow.backward);
    expect(spinUs).to.be.above(0);
    // In a child with a 100 ms window, so that the loop's calls follow each
    // other within it even where JS runs slowly (the arm64 binary's tests
    // run under qemu: milliseconds between calls).
    const code = `const a=require('.');const n=require('./dist/native').native;a.setNumThreads(2);
      const m=a.info().serialBelow.backward,x=new Float32Array(m),g=new Float32Array(m),o=new Float32Array(m);
      for(let i=0;i<m;i++){x[i]=Math.sin(i*0.37);g[i]=Math.cos(i*0.11);}
      const ref=a.backward(x,g,{alpha:0.3});
      const wait=(ms)=>{const t=process.hrtime.bigint();while(process.hrtime.bigint()-t<BigInt(ms*1e6)){}};
      wait(400);
      let b=n.info().parallelJobs;a.backward(x,g,{alpha:0.3},{out:o});const lone=n.info().parallelJobs-b;
      b=n.info().parallelJobs;let calls=0,same=true;const t0=process.hrtime.bigint();
      while(calls<30||process.hrtime.bigint()-t0<300000000n){const r=a.backward(x,g,{alpha:0.3},{out:o});calls++;
        same=same&&r.dAlpha===ref.dAlpha&&r.dBeta===ref.dBeta;}
      const used=n.info().parallelJobs-b;
      for(let i=0;i<m;i++)if(!Object.is(o[i],ref.dx[i]))same=false;
      console.log(JSON.stringify({lone,used,calls,same}))`;
    const r = runNode(code, { ARELU_SPIN_US: '100000' });
    expect(r.stderr).to.equal('');
    const out = JSON.parse(r.stdout);
    expect(out.same, 'results of the pooled calls').to.equal(true);
    // A lone call after an idle gap (400 ms: past the window, and past the
    // 20 ms the pool keeps mid-size calls serial after late helpers).
    expect(out.lone, 'a lone mid-size call').to.equal(0);
    // Back to back, from the second call on; where a VM's other core stalls,
    // the pool keeps calls serial for 20 ms at a time, so not all of them.
    expect(out.used, `back-to-back mid-size calls that used the pool (of ${out.calls})`).to.be.at.least(Math.min(100, out.calls / 3));
  });

  it('with ARELU_SPIN_US=0 mid-size arrays never use the pool', function () {
    const code = `const a=require('.');const n=require('./dist/native').native;a.setNumThreads(2);
      const m=a.info().serialBelow.backward,x=new Float32Array(m).fill(1),o=new Float32Array(m);
      for(let k=0;k<20;k++)a.backward(x,x,{},{out:o});console.log(n.info().parallelJobs)`;
    const r = runNode(code, { ARELU_SPIN_US: '0' });
    expect(r.stderr).to.equal('');
    expect(r.stdout.trim()).to.equal('0');
  });

  it('setNumThreads changes info().threads', function () {
    arelu.setNumThreads(3);
    expect(arelu.info().threads).to.equal(3);
    arelu.setNumThreads(os.availableParallelism());
    expect(arelu.info().threads).to.equal(os.availableParallelism());
  });

  it('ARELU_NUM_THREADS sets the pool size; an invalid value is an error at load', function () {
    let r = runNode("console.log(require('.').info().threads)", { ARELU_NUM_THREADS: '5' });
    expect(r.stdout.trim()).to.equal('5');
    r = runNode("require('.')", { ARELU_NUM_THREADS: 'many' });
    expect(r.status).to.not.equal(0);
    expect(r.stderr).to.contain("ARELU_NUM_THREADS must be a positive integer (at most 1024); got 'many'");
    expect(r.stderr).to.contain('ERR_ARELU_THREADS');
  });

  it('ARELU_SPIN_US sets how long pool threads poll (default 50); an invalid value is an error at load', function () {
    expect(arelu.info().spinUs).to.equal(process.env.ARELU_SPIN_US === undefined ? 50 : Number(process.env.ARELU_SPIN_US));
    let r = runNode("const a=require('.');a.setNumThreads(2);const x=new Float32Array(1<<21);a.forward(x,{},{out:x});console.log(a.info().spinUs)", { ARELU_SPIN_US: '0' });
    expect(r.stderr).to.equal('');
    expect(r.stdout.trim()).to.equal('0');
    for (const bad of ['-1', '100001', '5us', '']) {
      r = runNode("require('.')", { ARELU_SPIN_US: bad });
      expect(r.status, bad).to.not.equal(0);
      expect(r.stderr).to.contain(`ARELU_SPIN_US must be an integer from 0 to 100000 (microseconds); got '${bad}'`);
      expect(r.stderr).to.contain('ERR_ARELU_SPIN');
    }
  });

  for (const isa of arelu.info().isasSupported) {
    it(`ARELU_CPU_ISA=${isa} forces that ISA (and it is the one that runs)`, function () {
      const r = runNode("const a=require('.');a.forward(new Float32Array(100));console.log(a.info().isa)", { ARELU_CPU_ISA: isa });
      expect(r.stderr).to.equal('');
      expect(r.stdout.trim()).to.equal(isa);
    });
  }

  it('ARELU_CPU_ISA=auto picks the best supported ISA', function () {
    const r = runNode("console.log(require('.').info().isa)", { ARELU_CPU_ISA: 'auto' });
    const order = ['avx512', 'avx2', 'neon', 'scalar'];
    expect(r.stdout.trim()).to.equal(order.find((i) => arelu.info().isasSupported.includes(i)));
  });

  it('ARELU_AVX512_BACKWARD=256|512 picks the AVX-512 backward width, with the same bits; anything else is an error at load', function () {
    // Scalar parameters (backward_uniform) and NCHW rows (backward_rows), 1 thread.
    const script = "const a=require('.');a.setNumThreads(1);const n=8*4*2049,x=new Float32Array(n),g=new Float32Array(n);" +
      "for(let i=0;i<n;i++){x[i]=Math.sin(i*1.3)*3;g[i]=Math.cos(i*0.7)}x[5]=NaN;x[9]=-0;x[11]=0;g[13]=Infinity;" +
      "const h=(d)=>require('crypto').createHash('sha1').update(Buffer.from(d.buffer)).digest('hex');" +
      "const u=a.backward(x,g,{alpha:0.3,beta:1.5}),c=a.backward(x,g,{alpha:[0.2,0.4,0.6,0.8],beta:[1,2,-1,0]},{shape:[8,4,2049],channelAxis:1});" +
      "console.log(JSON.stringify({k:a.info().cpuKernels,isa:a.info().isa,u:[h(u.dx),u.dAlpha,u.dBeta],c:[h(c.dx),[...c.dAlpha],[...c.dBeta]]}))";
    const out = {};
    for (const w of ['256', '512']) {
      const r = runNode(script, { ARELU_AVX512_BACKWARD: w, ARELU_CPU_ISA: 'auto' });
      expect(r.stderr, w).to.equal('');
      out[w] = JSON.parse(r.stdout);
    }
    if (arelu.info().isasSupported.includes('avx512')) {
      expect(out['256'].k).to.equal('avx512 (256-bit backward)');
      expect(out['512'].k).to.equal('avx512');
    } else {
      expect(out['256'].k).to.equal(out['256'].isa);
    }
    expect(out['256'].u).to.deep.equal(out['512'].u);
    expect(out['256'].c).to.deep.equal(out['512'].c);
    const r = runNode("require('.')", { ARELU_AVX512_BACKWARD: '128' });
    expect(r.status).to.equal(1);
    expect(r.signal).to.equal(null);
    expect(r.stderr).to.contain("ARELU_AVX512_BACKWARD must be one of 256, 512, auto; got '128'");
    expect(r.stderr).to.contain('ERR_ARELU_ISA');
  });

  it('an unknown ARELU_CPU_ISA is an error at load, not a crash', function () {
    const r = runNode("require('.')", { ARELU_CPU_ISA: 'sse9' });
    expect(r.status).to.equal(1);
    expect(r.signal).to.equal(null);
    expect(r.stderr).to.contain("ARELU_CPU_ISA must be one of scalar, avx2, avx512, neon, auto; got 'sse9'");
    expect(r.stderr).to.contain('ERR_ARELU_ISA');
  });

  it("an ISA of the other architecture (neon on x64, avx2/avx512 on arm64) is an error at load", function () {
    const foreign = process.arch === 'arm64' ? ['avx2', 'avx512'] : ['neon'];
    for (const isa of foreign) {
      const r = runNode("require('.')", { ARELU_CPU_ISA: isa });
      expect(r.status).to.equal(1);
      expect(r.signal).to.equal(null);
      expect(r.stderr).to.contain(`ARELU_CPU_ISA=${isa}: ${isa} kernels are not built on this architecture`);
      expect(r.stderr).to.contain('ERR_ARELU_ISA');
      expect(() => arelu.setCpuIsa(isa)).to.throw(/cannot use CPU ISA '.*': .* kernels are not built on this architecture/)
        .with.property('code', 'ERR_ARELU_ISA');
    }
  });

  it('setCpuIsa rejects an ISA this build or CPU lacks with ERR_ARELU_ISA', function () {
    const missing = ['avx2', 'avx512', 'neon'].filter((i) => !arelu.info().isasSupported.includes(i));
    for (const isa of missing) expect(() => arelu.setCpuIsa(isa)).to.throw(/cannot use CPU ISA/);
    expect(() => arelu.setCpuIsa('sse9')).to.throw(RangeError, /Expected one of scalar, avx2, avx512, neon, auto for isa/);
  });
});

describe('64-bit lengths', function () {
  const n = 2 ** 31 + 21;
  before(function () {
    // 8 GiB for one array: run where the memory is there, say so otherwise.
    if (os.freemem() < 12 * 2 ** 30) {
      this.test.parent.title += ` (skipped: needs 12 GiB free, ${(os.freemem() / 2 ** 30).toFixed(1)} GiB free)`;
      this.skip();
    }
  });

  it(`computes forward and backward in place on ${n} elements (2^31 + 21)`, function () {
    this.timeout(300000);
    let x = new Float32Array(n);
    const probe = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, n - 2, n - 1];
    const vals = [1, -1, 2, -2, 3, -3, 4];
    probe.forEach((i, k) => { x[i] = vals[k]; });
    arelu.forward(x, { alpha: 0.5, beta: 0 }, { out: x });
    probe.forEach((i, k) => expect(x[i], `y[${i}]`).to.equal(vals[k] > 0 ? vals[k] * 1.5 : vals[k] * 0.5));
    // backward with x, dy and out all the same array: dx = g * coef.
    const g = arelu.backward(x, x, { alpha: 0.5, beta: 0 }, { out: x });
    const ys = vals.map((v) => (v > 0 ? v * 1.5 : v * 0.5));
    probe.forEach((i, k) => expect(x[i], `dx[${i}]`).to.equal(ys[k] > 0 ? ys[k] * 1.5 : ys[k] * 0.5));
    const wantA = -ys.filter((v) => v < 0).reduce((s, v) => s + v * -v, 0);
    expect(g.dAlpha).to.equal(wantA);
    x = null;
  });
});
