'use strict';
// forwardAsync/backwardAsync: same results as the synchronous calls, and the
// event loop keeps running while 16M elements are computed.
const { expect } = require('chai');
const arelu = require('..');
const h = require('./helpers');

describe('forwardAsync / backwardAsync', function () {
  it('give the same results as forward/backward (scalar and per-channel)', async function () {
    const n = 3 * 100003;
    const x = h.randomArray(n), dy = h.randomArray(n);
    expect(await arelu.forwardAsync(x, { alpha: 0.3 })).to.deep.equal(arelu.forward(x, { alpha: 0.3 }));
    const a = await arelu.backwardAsync(x, dy, { beta: 1.5 });
    const b = arelu.backward(x, dy, { beta: 1.5 });
    expect(a.dx).to.deep.equal(b.dx);
    expect(a.dAlpha).to.equal(b.dAlpha);
    expect(a.dBeta).to.equal(b.dBeta);
    const opts = { shape: [100003, 3], channelAxis: 1 };
    const p = { alpha: [0.2, 0.4, 0.6], beta: [0, 1, 2] };
    const c = await arelu.backwardAsync(x, dy, p, opts);
    const d = arelu.backward(x, dy, p, opts);
    expect(Array.from(c.dAlpha)).to.deep.equal(Array.from(d.dAlpha));
    expect(Array.from(c.dBeta)).to.deep.equal(Array.from(d.dBeta));
  });

  it('write into opts.out and in place', async function () {
    const x = h.randomArray(1000);
    const want = arelu.forward(x);
    const out = h.poisoned(1000);
    expect(await arelu.forwardAsync(x, {}, { out })).to.equal(out);
    expect(out).to.deep.equal(want);
    await arelu.forwardAsync(x, {}, { out: x });
    expect(x).to.deep.equal(want);
  });

  it('keep the event loop running during a 16M-element call', async function () {
    const n = 1 << 24;
    const x = h.randomArray(n), dy = h.randomArray(n);
    arelu.setNumThreads(1); // make the call long enough to observe
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      const t0 = process.hrtime.bigint();
      const pending = arelu.backwardAsync(x, dy);
      // The call has returned a promise before any work completed.
      const ticksAtReturn = ticks;
      await pending;
      await arelu.forwardAsync(x, {}, { out: x });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearInterval(timer);
      expect(ticksAtReturn).to.equal(0);
      // A blocked loop would show no ticks at all; allow for a busy machine.
      expect(ticks, `only ${ticks} timer ticks in ${ms.toFixed(1)} ms`).to.be.greaterThan(Math.min(5, ms / 10));
    } finally {
      arelu.setNumThreads(require('os').availableParallelism());
    }
  });

  it('run many calls concurrently with correct results', async function () {
    const inputs = Array.from({ length: 16 }, () => h.randomArray(200000));
    const outs = await Promise.all(inputs.map((x, i) => arelu.forwardAsync(x, { alpha: i / 16 })));
    outs.forEach((y, i) => expect(y).to.deep.equal(arelu.forward(inputs[i], { alpha: i / 16 })));
  });
});
