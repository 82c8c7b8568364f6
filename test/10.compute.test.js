'use strict';
// forward/backward on the CPU, for every ISA this CPU supports, against the
// float64 reference of SPEC §1 (y and dx within 2 ulps, sums within 1e-9 of
// sum |g*x|), on fresh random inputs and every edge case; outputs poisoned.
const { expect } = require('chai');
const arelu = require('..');
const h = require('./helpers');

const ISAS = arelu.info().isasSupported;

function expectClose(got, ref, what) {
  const i = h.firstMismatch(got, ref);
  expect(i, `${what}: element ${i}: got ${got[i]}, want ${ref[i]}`).to.equal(-1);
}

function checkCall(x, dy, params, opts, channels, inner) {
  const ref = h.reference(x, dy, params.alpha, params.beta, channels, inner);
  const y = h.poisoned(x.length);
  arelu.forward(x, params, { ...opts, out: y });
  expect(h.countPoison(y), 'unwritten y elements').to.equal(0);
  expectClose(y, ref.y, 'y');
  const dx = h.poisoned(x.length);
  const g = arelu.backward(x, dy, params, { ...opts, out: dx });
  expect(g.dx).to.equal(dx);
  expect(h.countPoison(dx), 'unwritten dx elements').to.equal(0);
  expectClose(dx, ref.dx, 'dx');
  const da = typeof g.dAlpha === 'number' ? [g.dAlpha] : Array.from(g.dAlpha);
  const db = typeof g.dBeta === 'number' ? [g.dBeta] : Array.from(g.dBeta);
  for (let c = 0; c < ref.dAlpha.length; c++) {
    expect(h.sumClose(da[c], ref.dAlpha[c], ref.mag[c]), `dAlpha[${c}] = ${da[c]}, want ${ref.dAlpha[c]}`).to.equal(true);
    expect(h.sumClose(db[c], ref.dBeta[c], ref.mag[c]), `dBeta[${c}] = ${db[c]}, want ${ref.dBeta[c]}`).to.equal(true);
  }
  return { y, dx, dAlpha: da, dBeta: db };
}

for (const isa of ISAS) {
  describe(`CPU kernels, ISA ${isa}`, function () {
    before(() => expect(arelu.setCpuIsa(isa)).to.equal(isa));
    after(() => arelu.setCpuIsa('auto'));

    it('runs the forced ISA (info().isa)', function () {
      expect(arelu.info().isa).to.equal(isa);
    });

    for (const n of [1, 15, 16, 17, 1000, 65536 + 7, 300001]) {
      it(`matches the float64 reference on ${n} random elements`, function () {
        const x = h.randomArray(n), dy = h.randomArray(n);
        checkCall(x, dy, { alpha: 0.02 + 0.96 * h.random(), beta: 8 * h.random() - 4 }, {}, 1, n);
      });
    }

    it('matches the reference on every SPEC §1 edge case (x, g, alpha, beta)', function () {
      const xs = [], gs = [];
      for (const x of h.EDGE_X) for (const g of h.EDGE_G) { xs.push(x); gs.push(g); }
      const x = Float32Array.from(xs), dy = Float32Array.from(gs);
      for (const [alpha, beta] of h.EDGE_PARAMS) checkCall(x, dy, { alpha, beta }, {}, 1, x.length);
    });

    it('gives NaN y, dx, dAlpha and dBeta for a NaN x among many finite values', function () {
      const x = h.randomArray(100000), dy = h.randomArray(100000);
      x[54321] = NaN;
      const y = arelu.forward(x);
      const g = arelu.backward(x, dy, { alpha: 0.5 });
      expect(y[54321]).to.be.NaN;
      expect(g.dx[54321]).to.be.NaN;
      expect(g.dAlpha).to.be.NaN;
      expect(g.dBeta).to.be.NaN;
    });

    it('propagates an infinite g: dBeta NaN where x < 0 (inf * relu(x) = inf * 0)', function () {
      const x = Float32Array.from([-1, 2, 3]), dy = Float32Array.from([Infinity, 1, 1]);
      const g = arelu.backward(x, dy);
      expect(g.dx[0]).to.equal(Infinity);
      expect(g.dAlpha).to.equal(-Infinity);
      expect(g.dBeta).to.be.NaN;
    });

    it('gives dAlpha = 0 when alpha is outside the clamp window (tested in float32)', function () {
      const x = h.randomArray(1000), dy = h.randomArray(1000);
      expect(arelu.backward(x, dy, { alpha: 1.2 }).dAlpha).to.equal(0);
      expect(arelu.backward(x, dy, { alpha: 0.005 }).dAlpha).to.equal(0);
      expect(arelu.backward(x, dy, { alpha: 0.99 }).dAlpha).to.not.equal(0);
      expect(arelu.backward(x, dy, { alpha: 0.01 }).dAlpha).to.not.equal(0);
    });

    const layouts = [
      ['NCHW', [3, 16, 28, 28], 1], ['NHWC C=3', [4, 50, 50, 3], 3], ['NHWC C=512', [2, 7, 7, 512], -1],
      ['NCHW C=2 inner=255', [30, 2, 255], 1], ['channels-last 2-D', [999, 10], 1], ['huge image NCHW', [1, 3, 224, 224], 1]];
    for (const [name, shape, axis] of layouts) {
      it(`per-channel ${name} ${JSON.stringify(shape)} matches the reference`, function () {
        const n = shape.reduce((a, b) => a * b, 1);
        const a = axis < 0 ? axis + shape.length : axis;
        const C = shape[a];
        const inner = shape.slice(a + 1).reduce((p, q) => p * q, 1);
        const alpha = Array.from({ length: C }, () => 2 * h.random() - 0.5);
        const beta = Float64Array.from({ length: C }, () => 8 * h.random() - 4);
        const x = h.randomArray(n), dy = h.randomArray(n);
        const r = checkCall(x, dy, { alpha, beta }, { shape, channelAxis: axis }, C, inner);
        expect(r.dAlpha).to.have.length(C);
      });
    }

    it('returns per-channel dAlpha/dBeta that later calls never overwrite (pooled views), sync and async', async function () {
      const shape = [50, 6], opts = { shape, channelAxis: 1 };
      const x = h.randomArray(300), dy = h.randomArray(300);
      const params = (k) => ({ alpha: Array.from({ length: 6 }, (_, c) => 0.1 + 0.01 * (c + k)), beta: new Array(6).fill(k / 10) });
      const kept = [];
      for (let k = 0; k < 200; k++) {  // 200 * 12 doubles: several 1024-double slabs
        const g = k % 3 === 2 ? await arelu.backwardAsync(x, dy, params(k), opts) : arelu.backward(x, dy, params(k), opts);
        expect(g.dAlpha).to.be.instanceOf(Float64Array).with.length(6);
        expect(g.dBeta).to.be.instanceOf(Float64Array).with.length(6);
        kept.push([k, g, Array.from(g.dAlpha), Array.from(g.dBeta)]);
      }
      for (const [k, g, da, db] of kept) {
        const ref = h.reference(x, dy, params(k).alpha, params(k).beta, 6, 1);
        expect(Array.from(g.dAlpha), `call ${k} dAlpha`).to.deep.equal(da);
        expect(Array.from(g.dBeta), `call ${k} dBeta`).to.deep.equal(db);
        for (let c = 0; c < 6; c++) expect(h.sumClose(da[c], ref.dAlpha[c], ref.mag[c]), `call ${k} dAlpha[${c}]`).to.equal(true);
      }
      // Writing into one result leaves every other untouched.
      kept[5][1].dAlpha.fill(7);
      expect(Array.from(kept[4][1].dBeta)).to.deep.equal(kept[4][3]);
      expect(Array.from(kept[5][1].dBeta)).to.deep.equal(kept[5][3]);
      expect(Array.from(kept[6][1].dAlpha)).to.deep.equal(kept[6][2]);
      // Many channels: a buffer of its own.
      const big = arelu.backward(h.randomArray(2 * 600), h.randomArray(2 * 600), {
        alpha: new Array(600).fill(0.5), beta: new Array(600).fill(1) }, { shape: [2, 600], channelAxis: 1 });
      expect(big.dAlpha.buffer.byteLength).to.equal(2 * 600 * 8);
    });

    it('reads per-channel parameters before writing any output (parameters inside out), sync and async', async function () {
      // Synchronous calls view the parameter arrays in place; async calls copy them.
      const C = 8, inner = 16, n = 4 * C * inner, opts = { shape: [4, C, inner], channelAxis: 1 };
      const alpha0 = Float32Array.from({ length: C }, (_, c) => 0.1 + 0.1 * c);
      const beta0 = Float32Array.from({ length: C }, (_, c) => c - 4);
      const x = h.randomArray(n), dy = h.randomArray(n);
      const ref = h.reference(x, dy, alpha0, beta0, C, inner);
      for (const async of [false, true]) {
        const out = h.poisoned(n);
        const alpha = out.subarray(0, C), beta = out.subarray(C, 2 * C);
        alpha.set(alpha0);
        beta.set(beta0);
        const y = async ? await arelu.forwardAsync(x, { alpha, beta }, { ...opts, out }) : arelu.forward(x, { alpha, beta }, { ...opts, out });
        expectClose(y, ref.y, `y (${async ? 'async' : 'sync'})`);
        alpha.set(alpha0);
        beta.set(beta0);
        const g = async ? await arelu.backwardAsync(x, dy, { alpha, beta }, { ...opts, out }) : arelu.backward(x, dy, { alpha, beta }, { ...opts, out });
        expectClose(g.dx, ref.dx, `dx (${async ? 'async' : 'sync'})`);
        for (let c = 0; c < C; c++) expect(h.sumClose(g.dBeta[c], ref.dBeta[c], ref.mag[c]), `dBeta[${c}]`).to.equal(true);
      }
    });

    it('computes unaligned subarray views and SharedArrayBuffer-backed arrays', function () {
      const n = 70001;
      const base = h.randomArray(n + 3), gbase = h.randomArray(n + 5);
      for (const off of [1, 2, 3]) {
        const x = base.subarray(off, off + n), dy = gbase.subarray(5 - off, 5 - off + n);
        checkCall(x, dy, { alpha: 0.3, beta: -1 }, {}, 1, n);
      }
      const sx = new Float32Array(new SharedArrayBuffer(4 * 1000)), sg = new Float32Array(new SharedArrayBuffer(4 * 1000));
      sx.set(h.randomArray(1000)); sg.set(h.randomArray(1000));
      checkCall(sx, sg, { alpha: 0.7, beta: 0.5 }, {}, 1, 1000);
    });

    it('computes in place (out === x) and dx over dy', function () {
      const x = h.randomArray(100003), dy = h.randomArray(100003);
      const ref = arelu.forward(x, { alpha: 0.4 });
      const refG = arelu.backward(x, dy, { alpha: 0.4 });
      const xc = x.slice();
      expect(arelu.forward(xc, { alpha: 0.4 }, { out: xc })).to.equal(xc);
      expect(xc).to.deep.equal(ref);
      const dyc = dy.slice();
      const g = arelu.backward(x, dyc, { alpha: 0.4 }, { out: dyc });
      expect(g.dx).to.equal(dyc);
      expect(dyc).to.deep.equal(refG.dx);
      expect(g.dAlpha).to.equal(refG.dAlpha);
      expect(g.dBeta).to.equal(refG.dBeta);
    });

    it('handles length 0', function () {
      const x = new Float32Array(0);
      expect(arelu.forward(x)).to.have.length(0);
      const g = arelu.backward(x, new Float32Array(0));
      expect(g.dx).to.have.length(0);
      expect(g.dAlpha).to.equal(0);
      expect(g.dBeta).to.equal(0);
      const p = arelu.backward(x, new Float32Array(0), { alpha: [0.5, 0.5] }, { shape: [0, 2], channelAxis: 1 });
      expect(Array.from(p.dAlpha)).to.deep.equal([0, 0]);
    });
  });
}

describe('Determinism of dAlpha/dBeta', function () {
  after(() => { arelu.setCpuIsa('auto'); arelu.setNumThreads(require('os').availableParallelism()); });

  const cases = [
    ['scalar parameters, 1M elements', (1 << 20) + 77, {}, {}],
    ['NHWC C=3', 3 * 200001, { alpha: [0.1, 0.5, 0.9], beta: [1, 2, 3] }, { shape: [200001, 3], channelAxis: 1 }],
    ['NCHW C=8 inner=4096', 8 * 4096 * 9, { alpha: new Array(8).fill(0.3), beta: new Array(8).fill(-1) }, { shape: [9, 8, 4096], channelAxis: 1 }],
  ];
  for (const [name, n, params, opts] of cases) {
    it(`is bit-identical across runs, 1..64 threads and every ISA (${name})`, function () {
      const x = h.randomArray(n), dy = h.randomArray(n);
      const bits = (g) => {
        const da = typeof g.dAlpha === 'number' ? [g.dAlpha] : Array.from(g.dAlpha);
        const db = typeof g.dBeta === 'number' ? [g.dBeta] : Array.from(g.dBeta);
        return Buffer.from(Float64Array.from([...da, ...db]).buffer).toString('hex');
      };
      let first;
      for (const isa of ISAS) {
        arelu.setCpuIsa(isa);
        for (const t of [1, 2, 3, 7, 16, 64]) {
          arelu.setNumThreads(t);
          for (let run = 0; run < 2; run++) {
            const got = bits(arelu.backward(x, dy, params, opts));
            if (first === undefined) first = got;
            expect(got, `${isa}, ${t} threads, run ${run}`).to.equal(first);
          }
        }
      }
    });
  }
});
