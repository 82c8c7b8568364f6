'use strict';
// SPEC §4: every misuse throws (or rejects with) the right error type and a
// message naming the argument and what was expected; nothing is written
// before validation passes.
const { expect } = require('chai');
const arelu = require('..');
const native = require('../dist/native').native;

const x = Float32Array.from([1, -2, 3, -4]);
const dy = Float32Array.from([1, 1, 1, 1]);

// Runs fn and expects an error of type T whose message matches re; also
// checks that the Async form rejects the same way.
function expectThrow(fn, T, re) {
  expect(fn).to.throw(T, re);
}
async function expectReject(promiseFn, T, re) {
  let err;
  try { await promiseFn(); } catch (e) { err = e; }
  expect(err, 'expected a rejection').to.be.instanceOf(T);
  expect(err.message).to.match(re);
}

function detached(n = 4) {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

const BAD_TYPES = [
  ['a string', 'abc'], ['a BigInt', 10n], ['null', null], ['a number array', [1, 2]],
  ['a Float64Array', new Float64Array(4)], ['an object', {}], ['undefined', undefined]];

describe('Errors (SPEC §4)', function () {
  describe('wrong types -> TypeError', function () {
    for (const [what, v] of BAD_TYPES) {
      it(`rejects ${what} for x, naming x`, async function () {
        expectThrow(() => arelu.forward(v), TypeError, /Expected Float32Array or DeviceBuffer for x but received/);
        expectThrow(() => arelu.backward(v, dy), TypeError, /for x but received/);
        await expectReject(() => arelu.forwardAsync(v), TypeError, /for x but received/);
        await expectReject(() => arelu.backwardAsync(v, dy), TypeError, /for x but received/);
      });
      if (v !== undefined) {
        it(`rejects ${what} for dy and for opts.out`, async function () {
          expectThrow(() => arelu.backward(x, v), TypeError, /Expected Float32Array for dy but received/);
          expectThrow(() => arelu.forward(x, {}, { out: v }), TypeError, /Expected Float32Array for opts.out but received/);
          await expectReject(() => arelu.backwardAsync(x, v), TypeError, /for dy but received/);
        });
      }
    }
    for (const [what, v] of [['a string', '0.5'], ['a BigInt', 1n], ['null', null], ['a boolean', true], ['an object', {}]]) {
      it(`rejects ${what} for params.alpha and params.beta`, function () {
        expectThrow(() => arelu.forward(x, { alpha: v }), TypeError, /Expected number for params.alpha but received/);
        expectThrow(() => arelu.backward(x, dy, { beta: v }), TypeError, /Expected number for params.beta but received/);
      });
    }
    it('rejects params that are not an object', function () {
      expectThrow(() => arelu.forward(x, 0.5), TypeError, /Expected object \{ alpha\?, beta\? \} for params but received 0.5 of type number/);
      expectThrow(() => arelu.forward(x, null), TypeError, /for params but received null/);
    });
    it('rejects opts that are not an object', function () {
      expectThrow(() => arelu.forward(x, {}, 'fast'), TypeError, /Expected object for opts but received 'fast' of type string/);
    });
    it('rejects per-channel arrays without shape and channelAxis', function () {
      expectThrow(() => arelu.forward(x, { alpha: [0.5] }), TypeError, /Expected number \(arrays need opts.shape and opts.channelAxis\) for params.alpha/);
    });
    it('rejects non-number elements of per-channel arrays', function () {
      expectThrow(() => arelu.forward(x, { alpha: [0.5, '1'] }, { shape: [2, 2], channelAxis: 1 }), TypeError, /Expected number for params.alpha\[1\] but received '1'/);
    });
    it('rejects a non-number channelAxis and a non-array shape', function () {
      expectThrow(() => arelu.forward(x, {}, { shape: [2, 2], channelAxis: '1' }), TypeError, /Expected integer for opts.channelAxis/);
      expectThrow(() => arelu.forward(x, {}, { shape: '2,2' }), TypeError, /Expected array of non-negative integers for opts.shape/);
      expectThrow(() => arelu.forward(x, {}, { shape: [2, '2'] }), TypeError, /for opts.shape\[1\]/);
    });
    it('rejects a channelAxis without a shape', function () {
      expectThrow(() => arelu.forward(x, {}, { channelAxis: 0 }), TypeError, /Expected opts.shape together with opts.channelAxis/);
    });
    it('rejects a detached ArrayBuffer for x, dy and out', async function () {
      expectThrow(() => arelu.forward(detached()), TypeError, /Expected x to be backed by a live ArrayBuffer, but it is detached/);
      expectThrow(() => arelu.backward(x, detached()), TypeError, /Expected dy to be backed by a live ArrayBuffer/);
      expectThrow(() => arelu.forward(x, {}, { out: detached() }), TypeError, /Expected opts.out to be backed by a live ArrayBuffer/);
      await expectReject(() => arelu.forwardAsync(detached()), TypeError, /detached/);
    });
    it('rejects a non-number thread count', function () {
      for (const v of ['4', 4n, null, undefined]) expectThrow(() => arelu.setNumThreads(v), TypeError, /Expected positive integer for threads/);
    });
    it('rejects mixing host arrays and device buffers', function () {
      // A DeviceBuffer object (its handle is never reached: the mix is
      // rejected first), so this runs without a GPU too.
      const devLike = new arelu.DeviceBuffer({}, 4, 0);
      expectThrow(() => arelu.backward(x, devLike), TypeError, /Expected Float32Array \(x is a Float32Array; do not mix host and device arrays\) for dy but received DeviceBuffer/);
      expectThrow(() => arelu.forward(x, {}, { out: devLike }), TypeError, /do not mix host and device arrays\) for opts.out/);
    });
  });

  describe('wrong values -> RangeError', function () {
    it('rejects x/dy length mismatch', async function () {
      expectThrow(() => arelu.backward(x, new Float32Array(3)), RangeError, /Expected length 4 \(the length of x\) for dy but received length 3/);
      await expectReject(() => arelu.backwardAsync(x, new Float32Array(5)), RangeError, /for dy but received length 5/);
    });
    it('rejects an out of the wrong length', function () {
      expectThrow(() => arelu.forward(x, {}, { out: new Float32Array(3) }), RangeError, /Expected length 4 \(the length of x\) for opts.out but received length 3/);
      expectThrow(() => arelu.backward(x, dy, {}, { out: new Float32Array(8) }), RangeError, /for opts.out but received length 8/);
    });
    it('rejects a shape whose product is not x.length', function () {
      expectThrow(() => arelu.forward(x, {}, { shape: [3, 2] }), RangeError, /Expected a shape whose product is x.length \(4\) for opts.shape but received \[3, 2\] \(product 6\)/);
    });
    it('rejects negative or fractional dimensions', function () {
      expectThrow(() => arelu.forward(x, {}, { shape: [-2, -2] }), RangeError, /Expected non-negative integer for opts.shape\[0\] but received -2/);
      expectThrow(() => arelu.forward(x, {}, { shape: [0.5, 8] }), RangeError, /for opts.shape\[0\]/);
    });
    it('rejects a channelAxis out of range or fractional', function () {
      expectThrow(() => arelu.forward(x, {}, { shape: [2, 2], channelAxis: 2 }), RangeError, /Expected an axis in \[-2, 1\] for opts.channelAxis but received 2/);
      expectThrow(() => arelu.forward(x, {}, { shape: [2, 2], channelAxis: -3 }), RangeError, /for opts.channelAxis but received -3/);
      expectThrow(() => arelu.forward(x, {}, { shape: [2, 2], channelAxis: 0.5 }), RangeError, /Expected integer for opts.channelAxis but received 0.5/);
    });
    it('rejects per-channel params of the wrong length', function () {
      expectThrow(() => arelu.forward(x, { alpha: [0.1, 0.2, 0.3] }, { shape: [2, 2], channelAxis: 1 }), RangeError, /Expected 2 values \(one per channel\) for params.alpha but received 3/);
      expectThrow(() => arelu.backward(x, dy, { beta: new Float32Array(1) }, { shape: [2, 2], channelAxis: 0 }), RangeError, /for params.beta but received 1/);
    });
    it('rejects thread counts that are not positive integers', function () {
      for (const v of [0, -1, 1.5, NaN, Infinity, 5000]) expectThrow(() => arelu.setNumThreads(v), RangeError, /Expected positive integer \(at most 1024\) for threads/);
    });
    it('rejects an out that partially overlaps x or dy, and writes nothing', function () {
      const buf = new Float32Array(12).fill(7);
      const xs = buf.subarray(0, 8), out = buf.subarray(4, 12);
      expectThrow(() => arelu.forward(xs, {}, { out }), RangeError, /Expected opts.out to be exactly x \(in-place\) or not to overlap it, but it partially overlaps x/);
      const g = new Float32Array(8), gbuf = new Float32Array(16);
      expectThrow(() => arelu.backward(g, gbuf.subarray(0, 8), {}, { out: gbuf.subarray(1, 9) }), RangeError, /partially overlaps dy/);
      expect(Array.from(buf)).to.deep.equal(new Array(12).fill(7));
    });
    it('gives the full validation\'s errors on the scalar fast path, for every refusal of the native call', function () {
      // Number parameters and a plain out take the fast path, which lets the
      // native call check lengths and overlaps; its refusals must read as
      // the full validation's (opts.out, not out), sync and async alike.
      const buf = new Float32Array(16).fill(3);
      const cases = [
        [() => arelu.forward(x, { alpha: 0.5 }, { out: new Float32Array(3) }), RangeError, /Expected length 4 \(the length of x\) for opts.out but received length 3/],
        [() => arelu.forward(buf.subarray(0, 4), { beta: 1 }, { out: buf.subarray(2, 6) }), RangeError, /Expected opts.out to be exactly x \(in-place\) or not to overlap it, but it partially overlaps x/],
        [() => arelu.forward(x, {}, { out: detached() }), TypeError, /opts.out/],
        [() => arelu.backward(x, new Float32Array(3), { beta: 1 }), RangeError, /Expected length 4 \(the length of x\) for dy but received length 3/],
        [() => arelu.backward(x, dy, {}, { out: new Float32Array(2) }), RangeError, /for opts.out but received length 2/],
        [() => arelu.backward(buf.subarray(0, 4), buf.subarray(4, 8), {}, { out: buf.subarray(1, 5) }), RangeError, /partially overlaps x/],
        [() => arelu.backward(x, buf.subarray(4, 8), {}, { out: buf.subarray(6, 10) }), RangeError, /partially overlaps dy/],
        [() => arelu.backward(x, detached(), {}), TypeError, /dy/],
      ];
      for (const [fn, T, re] of cases) expectThrow(fn, T, re);
      expect(Array.from(buf)).to.deep.equal(new Array(16).fill(3));
    });
    it('gives the full validation\'s errors on the per-channel fast path, for every refusal of the native call', function () {
      // Float32Array parameters with a plain shape and channelAxis take the
      // per-channel fast path (the native call checks the lengths of out and
      // of the parameters, and overlaps); each refusal must read as the full
      // validation's, and nothing may be written.
      const buf = new Float32Array(16).fill(3);
      const p2 = { alpha: new Float32Array(2).fill(0.5), beta: new Float32Array(2) };
      const L = { shape: [2, 2], channelAxis: 1 };
      const cases = [
        [() => arelu.forward(x, p2, { ...L, out: new Float32Array(3) }), RangeError, /Expected length 4 \(the length of x\) for opts.out but received length 3/],
        [() => arelu.forward(buf.subarray(0, 4), p2, { ...L, out: buf.subarray(2, 6) }), RangeError, /partially overlaps x/],
        [() => arelu.forward(x, { alpha: new Float32Array(3), beta: p2.beta }, L), RangeError, /Expected 2 values \(one per channel\) for params.alpha but received 3/],
        [() => arelu.forward(x, { alpha: p2.alpha, beta: new Float32Array(1) }, { ...L, channelAxis: -1 }), RangeError, /for params.beta but received 1/],
        [() => arelu.forward(x, p2, { ...L, out: detached() }), TypeError, /opts.out/],
        [() => arelu.backward(x, new Float32Array(3), p2, L), RangeError, /Expected length 4 \(the length of x\) for dy but received length 3/],
        [() => arelu.backward(x, dy, p2, { ...L, out: new Float32Array(2) }), RangeError, /for opts.out but received length 2/],
        [() => arelu.backward(buf.subarray(0, 4), buf.subarray(4, 8), p2, { ...L, out: buf.subarray(1, 5) }), RangeError, /partially overlaps x/],
        [() => arelu.backward(x, buf.subarray(4, 8), p2, { ...L, out: buf.subarray(6, 10) }), RangeError, /partially overlaps dy/],
        [() => arelu.backward(x, dy, { alpha: new Float32Array(4), beta: p2.beta }, L), RangeError, /for params.alpha but received 4/],
        [() => arelu.backward(x, detached(), p2, L), TypeError, /dy/],
        [() => arelu.backward(x, dy, p2, { shape: [2, 3], channelAxis: 1 }), RangeError, /product 6/],
      ];
      for (const [fn, T, re] of cases) expectThrow(fn, T, re);
      expect(Array.from(buf)).to.deep.equal(new Array(16).fill(3));
      // And a call it takes computes what the general path computes.
      const xs = Float32Array.of(1, -2, -3, 4), g = Float32Array.of(1, 2, 3, 4);
      const pc = { alpha: Float32Array.of(0.25, 0.5), beta: Float32Array.of(0, 1) };
      const fast = arelu.backward(xs, g, pc, { shape: [2, 2], channelAxis: 1 });
      const general = arelu.backward(xs, g, { alpha: Array.from(pc.alpha), beta: Array.from(pc.beta) }, { shape: [2, 2], channelAxis: 1 });
      expect(Array.from(fast.dx)).to.deep.equal(Array.from(general.dx));
      expect(Array.from(fast.dAlpha)).to.deep.equal(Array.from(general.dAlpha));
      expect(Array.from(fast.dBeta)).to.deep.equal(Array.from(general.dBeta));
      expect(Array.from(arelu.forward(xs, pc, { shape: [2, 2], channelAxis: -1 })))
        .to.deep.equal(Array.from(arelu.forward(xs, { alpha: [0.25, 0.5], beta: [0, 1] }, { shape: [2, 2], channelAxis: 1 })));
    });
    it('accepts out === x and an out that views exactly the same memory', function () {
      const a = Float32Array.from([1, -1]);
      arelu.forward(a, {}, { out: new Float32Array(a.buffer) });
      expect(a[1]).to.be.closeTo(-0.9, 1e-7);
    });
  });

  describe('nothing is written before validation passes', function () {
    it('leaves out untouched when a later argument is bad', function () {
      const out = new Float32Array(4).fill(5);
      expectThrow(() => arelu.forward(x, { alpha: 'x' }, { out }), TypeError);
      expectThrow(() => arelu.forward(x, {}, { out, shape: [5] }), RangeError);
      expectThrow(() => arelu.backward(x, dy, { beta: [1, 2] }, { out, shape: [4], channelAxis: 0 }), RangeError);
      expect(Array.from(out)).to.deep.equal([5, 5, 5, 5]);
    });
  });

  describe('the native layer re-checks what could touch memory (called directly)', function () {
    const y = new Float32Array(4);
    it('rejects wrong types and lengths with TypeError/RangeError, never crashing', function () {
      expect(() => native.forward('x', y, 0.9, 2, 1, 1)).to.throw(TypeError, /Expected Float32Array for x/);
      expect(() => native.forward(x, new Float32Array(2), 0.9, 2, 1, 1)).to.throw(RangeError, /Expected out to have the length of x/);
      expect(() => native.forward(x, y, new Float32Array(3), 2, 3, 1)).to.throw(RangeError, /Invalid layout for x/);
      expect(() => native.forward(x, y, new Float32Array(3), 2, 2, 1)).to.throw(RangeError, /Expected alpha to have 2 values/);
      expect(() => native.forward(x, y, 0.9, 2, 0, 1)).to.throw(RangeError, /Expected positive integer for channels/);
      expect(() => native.forward(x, y, 0.9, 2, 1)).to.throw(TypeError, /Expected positive integer for inner/);
      expect(() => native.backward(x, dy, y, 0.9, 2, 1, 1, new Float64Array(1))).to.throw(RangeError, /Expected sums to have 2 \* channels values/);
      const buf = new Float32Array(8);
      expect(() => native.forward(buf.subarray(0, 4), buf.subarray(2, 6), 0.9, 2, 1, 1)).to.throw(RangeError, /partially overlaps x/);
      expect(() => native.forward(detached(), detached(), 0.9, 2, 1, 1)).to.throw(TypeError, /detached/);
      expect(() => native.setIsa('sse9')).to.throw(RangeError, /Expected one of scalar, avx2, avx512, neon, auto/);
    });
    it('checks the scalar fast-path entries the same way', function () {
      const s2 = new Float64Array(2), buf = new Float32Array(8);
      expect(() => native.forwardScalar(x, new Float64Array(4), 0.9, 2)).to.throw(TypeError, /Expected Float32Array for out/);
      expect(() => native.forwardScalar(x, y, '0.9', 2)).to.throw(TypeError, /Expected number for alpha/);
      expect(() => native.forwardScalar(x, y, 0.9)).to.throw(TypeError, /Expected number for beta/);
      expect(() => native.forwardScalar(buf.subarray(0, 4), buf.subarray(1, 5), 0.9, 2)).to.throw(RangeError, /partially overlaps x/);
      expect(() => native.forwardScalar(detached(), detached(), 0.9, 2)).to.throw(TypeError, /detached/);
      expect(() => native.backwardScalar(x, new Float32Array(3), y, 0.9, 2, s2)).to.throw(RangeError, /Expected dy to have the length of x/);
      expect(() => native.backwardScalar(x, dy, new Float32Array(5), 0.9, 2, s2)).to.throw(RangeError, /Expected out to have the length of x/);
      expect(() => native.backwardScalar(buf.subarray(0, 4), dy, buf.subarray(2, 6), 0.9, 2, s2)).to.throw(RangeError, /partially overlaps x/);
      expect(() => native.backwardScalar(x, buf.subarray(0, 4), buf.subarray(3, 7), 0.9, 2, s2)).to.throw(RangeError, /partially overlaps dy/);
      expect(() => native.backwardScalar(x, dy, y, 0.9, 2n, s2)).to.throw(TypeError, /Expected number for beta/);
      expect(() => native.backwardScalar(x, dy, y, 0.9, 2, new Float64Array(3))).to.throw(RangeError, /Expected sums to have 2/);
      expect(() => native.backwardScalar(x, dy, y, 0.9, 2)).to.throw(TypeError, /Expected Float64Array for sums/);
    });
  });

  describe('GPU calls without CUDA', function () {
    before(function () {
      if (arelu.cuda.isAvailable()) this.skip();
    });
    it('report ERR_ARELU_NO_CUDA with the reason', function () {
      let err;
      try { arelu.cuda.upload(x); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(Error);
      expect(err.code).to.equal('ERR_ARELU_NO_CUDA');
      expect(err.reason).to.be.a('string').and.not.equal('');
      expect(err.message).to.contain(err.reason);
    });
  });
});
