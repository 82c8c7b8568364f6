'use strict';
// The CUDA path. Without a usable GPU (CI, development machines): every
// arelu.cuda call and every forward/backward with DeviceBuffers reports
// ERR_ARELU_NO_CUDA with the reason, and the GPU suites below are reported
// as skipped with that reason. On a GPU (bench/device-check.sh): the float64
// reference of SPEC §1 on random data and every edge case, poisoned outputs,
// all layout plans (scalar, NCHW, NHWC, vector and scalar loads),
// determinism, CPU/GPU agreement, async forms, handles, memory.
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const path = require('path');
const os = require('os');
const arelu = require('..');
const native = require('../dist/native').native;
const h = require('./helpers');

const info = arelu.info();
const AVAILABLE = arelu.cuda.isAvailable();
const REASON = info.cuda.reason;
const SKIP_TITLE = AVAILABLE ? '' : ` (skipped: no CUDA device: ${REASON})`;

// Every entry point of the native `cuda` object, with arguments of the
// right shape (the device ones cannot exist without a GPU: plain objects).
const fakeHandle = {};
const NATIVE_CALLS = {
  devices: [],
  memInfo: [0],
  alloc: [4, 0],
  upload: [new Float32Array(4), 0],
  download: [fakeHandle, new Float32Array(4)],
  downloadAsync: [fakeHandle, new Float32Array(4)],
  free: [fakeHandle],
  isFreed: [fakeHandle],
  forward: [fakeHandle, fakeHandle, 0.9, 2, 1, 1],
  backward: [fakeHandle, fakeHandle, fakeHandle, 0.9, 2, 1, 1, new Float64Array(2)],
  forwardAsync: [fakeHandle, fakeHandle, 0.9, 2, 1, 1],
  backwardAsync: [fakeHandle, fakeHandle, fakeHandle, 0.9, 2, 1, 1, new Float64Array(2)],
  copy: [fakeHandle, fakeHandle],
  synchronize: [0],
  eventRecord: [0],
  eventElapsed: [{}, {}],
};

function caught(fn) {
  try { fn(); } catch (e) { return e; }
  throw new Error('expected a throw');
}
async function rejected(fn) {
  try { await fn(); } catch (e) { return e; }
  throw new Error('expected a rejection');
}
function expectNoCuda(e) {
  expect(e).to.be.instanceOf(Error);
  expect(e.code, e.message).to.equal('ERR_ARELU_NO_CUDA');
  expect(e.reason).to.equal(REASON);
  expect(e.message).to.include(REASON);
}

// A DeviceBuffer object that never came from the addon (its class's
// prototype, no native handle behind it).
function forgedBuffer(length = 4) {
  const b = Object.create(arelu.DeviceBuffer.prototype);
  Object.defineProperty(b, 'length', { value: length });
  Object.defineProperty(b, 'device', { value: 0 });
  Object.defineProperty(b, 'handle', { value: {} });
  return b;
}

describe('arelu.cuda: status (every machine)', function () {
  it('info().cuda says whether CUDA is compiled and available, with the reason when not', function () {
    expect(info.cuda.compiled).to.be.a('boolean');
    expect(info.cuda.available).to.equal(AVAILABLE);
    if (AVAILABLE) {
      expect(info.cuda.reason).to.equal('');
      expect(info.cuda.devices.length).to.equal(info.cuda.deviceCount).and.to.be.above(0);
    } else {
      expect(info.cuda.reason).to.be.a('string').with.length.above(10);
      expect(info.cuda.deviceCount).to.equal(0);
      expect(info.cuda.devices).to.deep.equal([]);
    }
    if (!info.cuda.compiled) expect(info.cuda.reason).to.match(/^not compiled/);
  });

  it('a CUDA build reports the runtime and driver versions and names the CUDA error', function () {
    // ARELU_EXPECT_CUDA=1 (set by bench/device-check.sh) turns a build
    // without CUDA into a failure instead of a skip.
    if (process.env.ARELU_EXPECT_CUDA === '1') expect(info.cuda.compiled, 'CUDA compiled in').to.equal(true);
    if (!info.cuda.compiled) this.skip();
    expect(info.cuda.runtimeVersion).to.be.a('number').and.to.be.at.least(11000);
    expect(info.cuda.driverVersion).to.be.a('number').and.to.be.at.least(0);
    if (!AVAILABLE) expect(info.cuda.reason).to.match(/\(cudaError\w+\)/);
  });

  it('`arelu info` prints the CUDA status, versions and the reason', function () {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), 'info'],
      { encoding: 'utf8', env: process.env });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include(`CUDA compiled:  ${info.cuda.compiled ? 'yes' : 'no'}`);
    if (AVAILABLE) {
      expect(r.stdout).to.include('CUDA available: yes');
      for (const d of info.cuda.devices) expect(r.stdout).to.include(d.name);
    } else {
      expect(r.stdout).to.include(`CUDA available: no (${REASON})`);
    }
    if (info.cuda.compiled) {
      expect(r.stdout).to.match(/CUDA runtime: +\d+\.\d/);
      expect(r.stdout).to.match(/CUDA driver: +(\d+\.\d|none) \(this build needs CUDA \d+\.0 or newer \(NVIDIA driver R\d+ or newer\)\)/);
      expect(info.cuda.driverRequired).to.match(/^CUDA \d+\.0 or newer \(NVIDIA driver R\d+ or newer\)$/);
      if (info.cuda.runtimeVersion >= 13000) expect(info.cuda.driverRequired).to.include('R580');
    }
  });
});

describe('arelu.cuda without a usable GPU', function () {
  before(function () {
    if (AVAILABLE) {
      this.test.parent.title += ' (skipped: a CUDA device is available)';
      this.skip();
    }
  });

  it('isAvailable() is false and deviceCount() is 0', function () {
    expect(arelu.cuda.isAvailable()).to.equal(false);
    expect(arelu.cuda.deviceCount()).to.equal(0);
  });

  for (const [name, call] of [
    ['devices()', () => arelu.cuda.devices()],
    ['upload(x)', () => arelu.cuda.upload(new Float32Array([1, -2]))],
    ['upload(x, { device: 0 })', () => arelu.cuda.upload(new Float32Array(3), { device: 0 })],
    ['alloc(n)', () => arelu.cuda.alloc(16)],
    ['alloc(0)', () => arelu.cuda.alloc(0)],
    ['synchronize()', () => arelu.cuda.synchronize()],
    ['memInfo()', () => arelu.cuda.memInfo()],
  ]) {
    it(`cuda.${name} throws ERR_ARELU_NO_CUDA with the reason`, function () {
      expectNoCuda(caught(call));
    });
  }

  it('argument errors still come first (TypeError / RangeError)', function () {
    expect(() => arelu.cuda.upload([1, 2])).to.throw(TypeError, /Float32Array for x/);
    expect(() => arelu.cuda.alloc('4')).to.throw(TypeError, /length/);
    expect(() => arelu.cuda.alloc(-1)).to.throw(RangeError, /length/);
    expect(() => arelu.cuda.upload(new Float32Array(1), { device: 1.5 })).to.throw(RangeError, /opts.device/);
  });

  for (const [name, args] of Object.entries(NATIVE_CALLS)) {
    it(`the native cuda.${name} throws ERR_ARELU_NO_CUDA with the reason`, function () {
      expect(native.cuda[name], `native.cuda.${name}`).to.be.a('function');
      expectNoCuda(caught(() => native.cuda[name](...args)));
    });
  }

  it('the native status() matches info()', function () {
    const s = native.cuda.status();
    expect(s.available).to.equal(false);
    expect(s.compiled).to.equal(info.cuda.compiled);
    expect(s.reason).to.equal(REASON);
  });

  describe('forward/backward with DeviceBuffer inputs', function () {
    const x = () => forgedBuffer(4);
    it('forward(DeviceBuffer) throws ERR_ARELU_NO_CUDA', function () {
      expectNoCuda(caught(() => arelu.forward(x())));
      expectNoCuda(caught(() => arelu.forward(x(), { alpha: 0.5 }, { out: x() })));
    });
    it('backward(DeviceBuffer, DeviceBuffer) throws ERR_ARELU_NO_CUDA', function () {
      expectNoCuda(caught(() => arelu.backward(x(), x())));
      expectNoCuda(caught(() => arelu.backward(x(), x(), {}, { shape: [1, 2, 2], channelAxis: 1 })));
    });
    it('forwardAsync / backwardAsync reject with ERR_ARELU_NO_CUDA', async function () {
      expectNoCuda(await rejected(() => arelu.forwardAsync(x())));
      expectNoCuda(await rejected(() => arelu.backwardAsync(x(), x())));
    });
    it('the DeviceBuffer methods throw ERR_ARELU_NO_CUDA', async function () {
      const b = x();
      expectNoCuda(caught(() => b.freed));
      expectNoCuda(caught(() => b.download()));
      expectNoCuda(caught(() => b.free()));
      expectNoCuda(await rejected(() => b.downloadAsync()));
    });
    it('an object that only looks like a DeviceBuffer is a TypeError', function () {
      const lookalike = { length: 4, byteLength: 16, device: 0, handle: {} };
      expect(() => arelu.forward(lookalike)).to.throw(TypeError, /Float32Array or DeviceBuffer for x/);
    });
    it('mixing host arrays and DeviceBuffers is a TypeError', function () {
      expect(() => arelu.backward(new Float32Array(4), x())).to.throw(TypeError, /dy/);
      expect(() => arelu.forward(new Float32Array(4), {}, { out: x() })).to.throw(TypeError, /opts.out/);
    });
  });
});

// ---------------------------------------------------------------------------------
// On a GPU.

const DEV_LAYOUTS = [
  // [name, shape, channelAxis]: covers the flat, rows and cols plans with
  // vector (16-byte) and scalar loads, and per-channel forward's flat walk.
  ['scalar, length 1', [1], undefined],
  ['scalar, length 4097 (vector body + tail)', [4097], undefined],
  ['scalar, length 1000003', [1000003], undefined],
  ['NCHW, inner 256 (rows, vector)', [3, 4, 16, 16], 1],
  ['NCHW, inner 130 (rows, scalar)', [2, 3, 130], 1],
  ['NCHW, inner 9000 (rows, several chunks)', [2, 2, 9000], 1],
  ['NCHW, inner 35, outer 2 (cols, few rows)', [2, 3, 5, 7], 1],
  ['NCHW, inner 3025 odd (rows, scalar, unrolled)', [2, 3, 55, 55], 1],
  ['[16, 4096], axis 1 (cols, one row per band)', [16, 4096], 1],
  ['NHWC [2, 14, 14, 512] (cols, bands from the SM count)', [2, 14, 14, 512], 3],
  ['NHWC, C 8 (cols, vector)', [40, 5, 5, 8], 3],
  ['NHWC, C 3 (cols, scalar)', [64, 7, 3], 2],
  ['NHWC, C 2048 (cols, wide)', [48, 2048], 1],
  ['NCHW, inner 6 (cols, scalar)', [64, 5, 6], 1],
  ['NCHW, inner 8 (cols, vector)', [64, 4, 8], 1],
  ['NCHW, inner 3, C 12 (forward: channels change inside a float4)', [64, 12, 3], 1],
  ['NCHW, inner 5, C 4 (forward: channels change inside a float4)', [33, 4, 5], 1],
];

function layoutOf(shape, axis) {
  if (axis === undefined) return { channels: 1, inner: 1 };
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { channels: shape[axis], inner };
}

function paramsFor(channels, perChannel) {
  if (!perChannel) return { alpha: 0.3 + 0.6 * h.random(), beta: 4 * h.random() - 2 };
  const alpha = new Float32Array(channels), beta = new Float32Array(channels);
  for (let c = 0; c < channels; c++) { alpha[c] = 1.2 * h.random() - 0.1; beta[c] = 6 * h.random() - 3; }
  return { alpha, beta };
}

function expectClose(got, ref, what) {
  const i = h.firstMismatch(got, ref);
  expect(i, `${what}: element ${i}: got ${got[i]}, want ${ref[i]}`).to.equal(-1);
}

function asArray(v) { return typeof v === 'number' ? [v] : Array.from(v); }

// forward and backward on the GPU against the float64 reference, with
// poisoned device outputs; returns the results.
function checkOnGpu(x, dy, params, opts, channels, inner) {
  const ref = h.reference(x, dy, params.alpha, params.beta, channels, inner);
  const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
  const yd = arelu.cuda.upload(h.poisoned(x.length)), dxd = arelu.cuda.upload(h.poisoned(x.length));
  try {
    expect(arelu.forward(xd, params, { ...opts, out: yd })).to.equal(yd);
    const y = yd.download();
    expect(h.countPoison(y), 'unwritten y elements').to.equal(0);
    expectClose(y, ref.y, 'y');
    const g = arelu.backward(xd, gd, params, { ...opts, out: dxd });
    expect(g.dx).to.equal(dxd);
    const dx = dxd.download();
    expect(h.countPoison(dx), 'unwritten dx elements').to.equal(0);
    expectClose(dx, ref.dx, 'dx');
    const da = asArray(g.dAlpha), db = asArray(g.dBeta);
    expect(da.length).to.equal(ref.dAlpha.length);
    for (let c = 0; c < ref.dAlpha.length; c++) {
      expect(h.sumClose(da[c], ref.dAlpha[c], ref.mag[c]), `dAlpha[${c}] = ${da[c]}, want ${ref.dAlpha[c]}`).to.equal(true);
      expect(h.sumClose(db[c], ref.dBeta[c], ref.mag[c]), `dBeta[${c}] = ${db[c]}, want ${ref.dBeta[c]}`).to.equal(true);
    }
    return { y, dx, dAlpha: da, dBeta: db, mag: ref.mag };
  } finally {
    for (const b of [xd, gd, yd, dxd]) b.free();
  }
}

// The CPU stand-in of the CUDA runtime (test/cuda-emu) names its device so.
function onStandIn() { return AVAILABLE && /emulation/.test(arelu.cuda.devices()[0].name); }
// Whether a kernel launch can be made to fault (ARELU_TEST_FAIL_LAUNCH=k:
// the k-th launch faults, ARELU_TEST_FAULT_MS after it starts): on the CPU
// stand-in, or on a GPU with a fault-hook test build of the addon
// (-DARELU_CUDA_FAULT_HOOK=ON; bench/device-check.sh's faults step).
function canFault() { return onStandIn() || (AVAILABLE && native.cuda.faultHook === true); }
const FAULTS = '(CPU stand-in or fault-hook build only)';
// Downloads through pinned chunks: a stand-in device without stream-ordered
// allocation, or forced on a GPU.
const STAGED = { ARELU_EMU_NO_POOLS: '1', ARELU_CUDA_DOWNLOAD: 'staged' };

// Runs `body` (a script's text, with `arelu`, `print` and a seeded `rnd`
// in scope) in a child process with extra environment variables (the
// stand-in's knobs are read once per process); returns what it printed
// last, parsed from JSON.
function inChild(body, env, timeout = 120000) {
  const script = `
    const arelu = require(${JSON.stringify(path.join(__dirname, '..'))});
    let seed = 12345;
    const rnd = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 2 ** 32; };
    const print = (v) => console.log(JSON.stringify(v));
    ${body}`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout, env: { ...process.env, ...env } });
  expect(r.status, `child exited with ${r.status} (${r.signal}): ${r.stderr}`).to.equal(0);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// Per-test time limit: bench/device-check.sh sets it below its step limit,
// so one hanging test fails alone and the rest still report.
const GPU_TIMEOUT = Number(process.env.ARELU_GPU_TEST_TIMEOUT_MS) || 300000;

describe(`arelu.cuda on a GPU${SKIP_TITLE}`, function () {
  this.timeout(GPU_TIMEOUT);
  beforeEach(function () {
    if (!AVAILABLE) this.skip();
  });

  describe('devices and buffers', function () {
    it('devices() lists name, compute capability, memory and SM count', function () {
      const ds = arelu.cuda.devices();
      expect(ds.length).to.equal(arelu.cuda.deviceCount()).and.to.be.above(0);
      ds.forEach((d, i) => {
        expect(d.index).to.equal(i);
        expect(d.name).to.be.a('string').with.length.above(0);
        expect(d.computeCapability).to.match(/^\d+\.\d+$/);
        expect(d.totalMemory).to.be.above(2 ** 30);
        expect(d.multiProcessorCount).to.be.above(0);
      });
    });

    it('upload/download round-trip unaligned views, SharedArrayBuffers and length 0', async function () {
      for (const n of [0, 1, 3, 5, 1027]) {
        for (const off of [0, 1, 3]) {
          const base = h.randomArray(n + off + 2);
          const src = base.subarray(off, off + n);
          const d = arelu.cuda.upload(src);
          expect(d.length).to.equal(n);
          expect(d.byteLength).to.equal(4 * n);
          expect(d.device).to.equal(0);
          const into = new Float32Array(n + 5).subarray(1, 1 + n);
          expect(d.download(into)).to.equal(into);
          expect(Array.from(into)).to.deep.equal(Array.from(src));
          expect(Array.from(await d.downloadAsync())).to.deep.equal(Array.from(src));
          d.free();
        }
      }
      const sab = new Float32Array(new SharedArrayBuffer(4 * 100));
      sab.set(h.randomArray(100));
      const d = arelu.cuda.upload(sab);
      expect(Array.from(d.download(new Float32Array(new SharedArrayBuffer(400))))).to.deep.equal(Array.from(sab));
      d.free();
    });

    it('downloadAsync of a buffer larger than the pinned ring (several chunks when it has no room for a temporary)', async function () {
      const n = 40 * 2 ** 20 + 3; // 160 MB: 20 chunks of 8 MB on the fallback path
      const x = h.randomArray(n);
      const d = arelu.cuda.upload(x);
      const back = await d.downloadAsync();
      d.free();
      expect(Buffer.compare(Buffer.from(back.buffer), Buffer.from(x.buffer))).to.equal(0);
    });

    it('free() is idempotent; a freed buffer is ERR_ARELU_FREED everywhere', async function () {
      const d = arelu.cuda.upload(new Float32Array([1, -1]));
      expect(d.freed).to.equal(false);
      d.free();
      d.free();
      expect(d.freed).to.equal(true);
      const live = arelu.cuda.upload(new Float32Array([1, -1]));
      for (const fn of [() => d.download(), () => arelu.forward(d), () => arelu.backward(d, live),
        () => arelu.backward(live, d), () => arelu.forward(live, {}, { out: d })]) {
        const e = caught(fn);
        expect(e.code, e.message).to.equal('ERR_ARELU_FREED');
      }
      expect((await rejected(() => d.downloadAsync())).code).to.equal('ERR_ARELU_FREED');
      expect((await rejected(() => arelu.forwardAsync(d))).code).to.equal('ERR_ARELU_FREED');
      // The native layer checks on its own, too.
      expect(caught(() => native.cuda.forward(d.handle, live.handle, 0.9, 2, 1, 1)).code).to.equal('ERR_ARELU_FREED');
      live.free();
    });

    it('rejects forged handles with a TypeError (napi_type_tag)', function () {
      const live = arelu.cuda.upload(new Float32Array(4));
      const copyOfHandle = { ...live.handle };
      const withProto = Object.create(live.handle);
      for (const h2 of [{}, copyOfHandle, withProto, null, 42, new Float32Array(4)]) {
        expect(() => native.cuda.download(h2, new Float32Array(4))).to.throw(TypeError, /DeviceBuffer handle/);
        expect(() => native.cuda.forward(live.handle, h2, 0.9, 2, 1, 1)).to.throw(TypeError, /DeviceBuffer handle for out/);
      }
      expect(() => arelu.forward(forgedBuffer(4))).to.throw(TypeError, /DeviceBuffer handle/);
      live.free();
    });

    it('checks lengths, layouts and devices (RangeError / TypeError)', function () {
      const a = arelu.cuda.alloc(8), b = arelu.cuda.alloc(7);
      expect(() => arelu.backward(a, b)).to.throw(RangeError, /dy/);
      expect(() => arelu.forward(a, {}, { out: b })).to.throw(RangeError, /opts.out/);
      expect(() => arelu.forward(a, {}, { shape: [2, 3], channelAxis: 1 })).to.throw(RangeError, /shape/);
      expect(() => native.cuda.forward(a.handle, a.handle, 0.9, 2, 3, 1)).to.throw(RangeError, /layout/);
      expect(() => native.cuda.backward(a.handle, a.handle, a.handle, 0.9, 2, 1, 1, new Float64Array(3))).to.throw(RangeError, /sums/);
      expect(() => arelu.cuda.alloc(4, { device: arelu.cuda.deviceCount() })).to.throw(RangeError, /device/);
      expect(() => arelu.forward(a, {}, { out: new Float32Array(8) })).to.throw(TypeError);
      a.free();
      b.free();
    });

    it('events time the queued work on the device (benchmark timing)', function () {
      const n = 2 ** 20, xd = arelu.cuda.upload(h.randomArray(n));
      const a = native.cuda.eventRecord(0);
      for (let i = 0; i < 3; i++) arelu.forward(xd, {}, { out: xd });
      const b = native.cuda.eventRecord(0);
      const ms = native.cuda.eventElapsed(a, b);
      expect(ms).to.be.a('number').and.to.be.above(0).and.to.be.below(60000);
      expect(native.cuda.eventElapsed(a, a)).to.equal(0);
      expect(() => native.cuda.eventElapsed({}, b)).to.throw(TypeError, /eventRecord/);
      xd.free();
    });

    it('1000 alloc/free cycles leave device memory where it was', function () {
      const warm = arelu.cuda.alloc(2 ** 20);
      warm.free();
      const before = arelu.cuda.memInfo().free;
      for (let i = 0; i < 1000; i++) {
        const d = arelu.cuda.alloc(2 ** 20 + (i % 7)); // 4 MB each
        if (i % 2) arelu.forward(d, {}, { out: d });
        d.free();
      }
      arelu.cuda.synchronize();
      const after = arelu.cuda.memInfo().free;
      expect(before - after, `free memory dropped by ${before - after} bytes`).to.be.at.most(2 ** 21);
    });

    it('an allocation larger than the device fails cleanly with ERR_ARELU_CUDA; the addon stays usable', function () {
      const total = arelu.cuda.devices()[0].totalMemory;
      const e = caught(() => arelu.cuda.alloc(Math.ceil(total / 4) + 2 ** 28));
      expect(e.code, e.message).to.equal('ERR_ARELU_CUDA');
      expect(e.message).to.include('cudaErrorMemoryAllocation');
      expect(e.cudaError).to.equal('cudaErrorMemoryAllocation');
      // Usable afterwards: a full forward/backward still checks out.
      const x = h.randomArray(1000), dy = h.randomArray(1000);
      checkOnGpu(x, dy, { alpha: 0.4, beta: 1 }, {}, 1, 1);
      // upload() of more than the device's free memory, where JS can make
      // such an array (Node 20: at most 2^32 - 1 elements; a device with
      // more free memory is covered by alloc above).
      const over = Math.ceil(arelu.cuda.memInfo().free / 4) + 2 ** 20;
      if (over <= 2 ** 32 - 1) {
        const e2 = caught(() => arelu.cuda.upload(new Float32Array(over)));
        expect(e2.code, e2.message).to.equal('ERR_ARELU_CUDA');
        expect(e2.cudaError).to.equal('cudaErrorMemoryAllocation');
      }
      // And alloc() of a length beyond any device (2^50 bytes).
      const e3 = caught(() => arelu.cuda.alloc(2 ** 48));
      expect(e3.code, e3.message).to.equal('ERR_ARELU_CUDA');
      checkOnGpu(x, dy, { alpha: 0.4, beta: 1 }, {}, 1, 1);
    });
  });

  describe('forward/backward against the float64 reference', function () {
    for (const [name, shape, axis] of DEV_LAYOUTS) {
      it(`${name}: random data, outputs poisoned`, function () {
        const n = shape.reduce((a, b) => a * b, 1);
        const { channels, inner } = layoutOf(shape, axis);
        const opts = axis === undefined ? {} : { shape, channelAxis: axis };
        const params = paramsFor(channels, axis !== undefined);
        checkOnGpu(h.randomArray(n), h.randomArray(n), params, opts, channels, inner);
      });
    }

    it('per-channel coefficients: repeated, changed in place, and of other channel counts in between', function () {
      // The device keeps the last per-channel call's coefficients and
      // skips their copy when the next call's parameter bits are the same:
      // every call below must still see its own parameters.
      const SHAPES = [[[16, 5, 5, 8], 3], [[6, 8, 3], 1], [[4, 8, 130], 1], [[16, 5, 5, 16], 3], [[64, 7, 3], 1], [[16, 5, 5, 8], 3]];
      const alpha = new Float32Array(16), beta = new Float32Array(16);
      const fill = (a, b) => { for (let c = 0; c < a.length; c++) { a[c] = 1.2 * h.random() - 0.1; b[c] = 6 * h.random() - 3; } };
      for (const [shape, axis] of SHAPES) {
        const n = shape.reduce((u, v) => u * v, 1);
        const { channels, inner } = layoutOf(shape, axis);
        const a = alpha.subarray(0, channels), b = beta.subarray(0, channels);
        const x = h.randomArray(n), dy = h.randomArray(n), opts = { shape, channelAxis: axis };
        fill(a, b);
        checkOnGpu(x, dy, { alpha: a, beta: b }, opts, channels, inner);
        checkOnGpu(x, dy, { alpha: a, beta: b }, opts, channels, inner);  // the same bits: no copy
        a[channels - 1] = 0.5 * a[channels - 1] + 0.25;  // one channel changed in place
        checkOnGpu(x, dy, { alpha: a, beta: b }, opts, channels, inner);
        b[0] = -b[0];
        checkOnGpu(x, dy, { alpha: Float32Array.from(a), beta: Float32Array.from(b) }, opts, channels, inner);
      }
    });

    it('every SPEC §1 edge case of x, g and the parameters', function () {
      const nx = h.EDGE_X.length, ng = h.EDGE_G.length;
      const x = new Float32Array(nx * ng), dy = new Float32Array(nx * ng);
      for (let i = 0; i < nx; i++) for (let j = 0; j < ng; j++) { x[i * ng + j] = h.EDGE_X[i]; dy[i * ng + j] = h.EDGE_G[j]; }
      for (const [alpha, beta] of h.EDGE_PARAMS) checkOnGpu(x, dy, { alpha, beta }, {}, 1, 1);
      // Per channel: every parameter pair at once, NCHW and NHWC.
      const C = h.EDGE_PARAMS.length;
      const alpha = Float32Array.from(h.EDGE_PARAMS.map((p) => p[0]));
      const beta = Float32Array.from(h.EDGE_PARAMS.map((p) => p[1]));
      const inner = nx * ng;
      const xc = new Float32Array(C * inner), gc = new Float32Array(C * inner);
      for (let c = 0; c < C; c++) { xc.set(x, c * inner); gc.set(dy, c * inner); }
      checkOnGpu(xc, gc, { alpha, beta }, { shape: [1, C, inner], channelAxis: 1 }, C, inner);
      // NHWC: element i has channel i % C; put each edge pair at every channel.
      const xn = new Float32Array(C * inner), gn = new Float32Array(C * inner);
      for (let k = 0; k < inner; k++) for (let c = 0; c < C; c++) { xn[k * C + c] = x[k]; gn[k * C + c] = dy[k]; }
      checkOnGpu(xn, gn, { alpha, beta }, { shape: [inner, C], channelAxis: 1 }, C, 1);
    });

    it('a NaN in x or g reaches dAlpha and dBeta (large arrays too)', function () {
      const n = 3 * 2 ** 20 + 5;
      for (const [where, bad] of [['x', NaN], ['g', NaN], ['g', Infinity]]) {
        const x = h.randomArray(n), dy = h.randomArray(n);
        const k = Math.floor(h.random() * n);
        if (where === 'x') x[k] = bad; else dy[k] = bad;
        if (where === 'g') x[k] = -Math.abs(x[k]) || -1; // x < 0: g*relu(x) = inf*0 = NaN in dBeta
        const r = checkOnGpu(x, dy, { alpha: 0.5, beta: 0.5 }, {}, 1, 1);
        expect(Number.isNaN(r.dBeta[0]), `dBeta with ${bad} in ${where}`).to.equal(true);
      }
    });

    it('in place: out === x (forward) and out === dy (backward)', function () {
      const n = 10007, x = h.randomArray(n), dy = h.randomArray(n);
      const ref = h.reference(x, dy, 0.7, 1.5, 1, 1);
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
      const g = arelu.backward(xd, gd, { alpha: 0.7, beta: 1.5 }, { out: gd });
      expect(g.dx).to.equal(gd);
      expectClose(gd.download(), ref.dx, 'dx in place');
      expect(arelu.forward(xd, { alpha: 0.7, beta: 1.5 }, { out: xd })).to.equal(xd);
      expectClose(xd.download(), ref.y, 'y in place');
      xd.free();
      gd.free();
    });

    it('without out: returns new DeviceBuffers on the same device', function () {
      const x = h.randomArray(100), dy = h.randomArray(100);
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
      const yd = arelu.forward(xd);
      expect(yd).to.be.instanceOf(arelu.DeviceBuffer);
      expect(yd).to.not.equal(xd);
      expect(yd.device).to.equal(xd.device);
      expectClose(yd.download(), h.reference(x, dy, 0.9, 2).y, 'y');
      const g = arelu.backward(xd, gd);
      expect(g.dx).to.be.instanceOf(arelu.DeviceBuffer);
      for (const b of [xd, gd, yd, g.dx]) b.free();
    });
  });

  describe('determinism and agreement with the CPU', function () {
    const cases = [
      ['scalar', [4 * 2 ** 20 + 3], undefined],
      ['NCHW', [8, 16, 96, 96], 1],
      ['NHWC', [8, 96, 96, 16], 3],
    ];
    for (const [name, shape, axis] of cases) {
      it(`${name}: bit-identical sums and dx over 10 runs; within 1e-12 of the CPU relative to sum |g*x|`, function () {
        const n = shape.reduce((a, b) => a * b, 1);
        const { channels, inner } = layoutOf(shape, axis);
        const opts = axis === undefined ? {} : { shape, channelAxis: axis };
        const params = paramsFor(channels, axis !== undefined);
        const x = h.randomArray(n), dy = h.randomArray(n);
        const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy), dxd = arelu.cuda.alloc(n);
        let first;
        for (let run = 0; run < 10; run++) {
          const g = arelu.backward(xd, gd, params, { ...opts, out: dxd });
          const got = { a: asArray(g.dAlpha), b: asArray(g.dBeta), dx: dxd.download() };
          if (!first) { first = got; continue; }
          expect(got.a, `dAlpha, run ${run}`).to.deep.equal(first.a);
          expect(got.b, `dBeta, run ${run}`).to.deep.equal(first.b);
          expect(Buffer.compare(Buffer.from(got.dx.buffer), Buffer.from(first.dx.buffer)), `dx, run ${run}`).to.equal(0);
        }
        const cpu = arelu.backward(x, dy, params, opts);
        expect(Buffer.compare(Buffer.from(cpu.dx.buffer), Buffer.from(first.dx.buffer)), 'dx: CPU vs GPU').to.equal(0);
        const mag = new Float64Array(channels);
        for (let i = 0; i < n; i++) mag[channels === 1 ? 0 : Math.floor(i / inner) % channels] += Math.abs(dy[i] * x[i]);
        const ca = asArray(cpu.dAlpha), cb = asArray(cpu.dBeta);
        for (let c = 0; c < channels; c++) {
          expect(Math.abs(first.a[c] - ca[c]), `dAlpha[${c}]: GPU ${first.a[c]}, CPU ${ca[c]}`).to.be.at.most(1e-12 * mag[c]);
          expect(Math.abs(first.b[c] - cb[c]), `dBeta[${c}]: GPU ${first.b[c]}, CPU ${cb[c]}`).to.be.at.most(1e-12 * mag[c]);
        }
        const y = arelu.forward(xd, params, opts);
        expect(Buffer.compare(Buffer.from(y.download().buffer), Buffer.from(arelu.forward(x, params, opts).buffer)), 'y: CPU vs GPU').to.equal(0);
        for (const b of [xd, gd, dxd, y]) b.free();
      });
    }
  });

  describe('asynchronous forms', function () {
    it('forwardAsync / backwardAsync / downloadAsync give the synchronous results', async function () {
      const shape = [4, 8, 50, 50], n = 4 * 8 * 2500;
      const params = paramsFor(8, true), opts = { shape, channelAxis: 1 };
      const x = h.randomArray(n), dy = h.randomArray(n);
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
      const ySync = arelu.forward(xd, params, opts).download();
      const gSync = arelu.backward(xd, gd, params, opts);
      const yd = await arelu.forwardAsync(xd, params, opts);
      expect(yd).to.be.instanceOf(arelu.DeviceBuffer);
      expect(Buffer.compare(Buffer.from((await yd.downloadAsync()).buffer), Buffer.from(ySync.buffer))).to.equal(0);
      const gAsync = await arelu.backwardAsync(xd, gd, params, opts);
      expect(Array.from(gAsync.dAlpha)).to.deep.equal(Array.from(gSync.dAlpha));
      expect(Array.from(gAsync.dBeta)).to.deep.equal(Array.from(gSync.dBeta));
      expect(Buffer.compare(Buffer.from(gAsync.dx.download().buffer), Buffer.from(gSync.dx.download().buffer))).to.equal(0);
      for (const b of [xd, gd, yd, gAsync.dx, gSync.dx]) b.free();
    });

    it('work is stream-ordered: a download right after an un-awaited forwardAsync sees its result', async function () {
      const n = 2 ** 24 + 1, x = h.randomArray(n);
      const xd = arelu.cuda.upload(x), yd = arelu.cuda.alloc(n);
      const p = arelu.forwardAsync(xd, { alpha: 0.25, beta: -1 }, { out: yd });
      const y = yd.download();
      await p;
      const ref = h.reference(x.subarray(0, 4096), null, 0.25, -1).y;
      expectClose(y.subarray(0, 4096), ref, 'y');
      expectClose(y.subarray(n - 1), h.reference(x.subarray(n - 1), null, 0.25, -1).y, 'y[n-1]');
      xd.free();
      yd.free();
    });

    it('an empty backward while a large backwardAsync is queued: each call gets its own sums', async function () {
      const n = 2 ** 22 + 3, x = h.randomArray(n), dy = h.randomArray(n);
      const params = { alpha: 0.5, beta: 0.25 };
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy), e0 = arelu.cuda.alloc(0), e1 = arelu.cuda.alloc(0);
      const want = arelu.backward(xd, gd, params);
      want.dx.free();
      expect(want.dAlpha).to.not.equal(0);
      for (const form of ['sync', 'async']) {
        const big = arelu.backwardAsync(xd, gd, params);
        const empty = form === 'sync' ? arelu.backward(e0, e1, params) : await arelu.backwardAsync(e0, e1, params);
        expect(Object.is(empty.dAlpha, 0), `${form} empty dAlpha ${empty.dAlpha}`).to.equal(true);
        expect(Object.is(empty.dBeta, 0), `${form} empty dBeta ${empty.dBeta}`).to.equal(true);
        const g = await big;
        expect(g.dAlpha, `${form}: dAlpha of the large call`).to.equal(want.dAlpha);
        expect(g.dBeta, `${form}: dBeta of the large call`).to.equal(want.dBeta);
        g.dx.free();
        empty.dx.free();
      }
      // Per channel, too.
      const C = 4, shape = [n - 3 >> 2, C], pc = paramsFor(C, true), opts = { shape, channelAxis: 1 };
      const xs = arelu.cuda.upload(x.subarray(0, n - 3)), gs = arelu.cuda.upload(dy.subarray(0, n - 3));
      const wantC = arelu.backward(xs, gs, pc, opts);
      wantC.dx.free();
      const bigC = arelu.backwardAsync(xs, gs, pc, opts);
      const emptyC = arelu.backward(e0, e1, pc, { shape: [0, C], channelAxis: 1 });
      expect(Array.from(emptyC.dBeta)).to.deep.equal([0, 0, 0, 0]);
      const gC = await bigC;
      expect(Array.from(gC.dAlpha)).to.deep.equal(Array.from(wantC.dAlpha));
      expect(Array.from(gC.dBeta)).to.deep.equal(Array.from(wantC.dBeta));
      for (const b of [xd, gd, e0, e1, xs, gs, gC.dx, emptyC.dx]) b.free();
    });

    it('downloadAsync of many sizes, concurrent with other work, in call order', async function () {
      const sizes = [1, 5, 4096, 100003, 2 ** 20 + 7];
      const bufs = sizes.map((n) => h.randomArray(n));
      const ds = bufs.map((b) => arelu.cuda.upload(b));
      const got = await Promise.all(ds.map((d) => d.downloadAsync()));
      got.forEach((g, i) => expect(Buffer.compare(Buffer.from(g.buffer), Buffer.from(bufs[i].buffer)), `size ${sizes[i]}`).to.equal(0));
      // A download, then a forward that overwrites the same buffer in place:
      // the download sees the data from before the forward.
      const d = ds[4];
      const p = d.downloadAsync();
      arelu.forward(d, { alpha: 0.5, beta: 0 }, { out: d });
      expect(Buffer.compare(Buffer.from((await p).buffer), Buffer.from(bufs[4].buffer))).to.equal(0);
      expectClose(await d.downloadAsync(), h.reference(bufs[4], null, 0.5, 0).y, 'y after the download');
      for (const b of ds) b.free();
    });

    it('downloadAsync with no room for a temporary: pinned chunks copied out off the stream', function () {
      // The fallback path for every download: on the stand-in a device
      // without stream-ordered allocation, on a GPU forced by
      // ARELU_CUDA_DOWNLOAD=staged. On the stand-in each copy out of pinned
      // memory takes 250 ms more: synchronize() right after a 3-chunk
      // download must not wait for them (nothing on the stream does). The
      // download completes with the right bytes, in stream order, whatever
      // the size, concurrency and slot reuse.
      const standIn = onStandIn();
      const out = inChild(`
        const MB = 2 ** 20;
        const arr = (n) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = rnd() * 8 - 4; return a; };
        const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
        (async () => {
          const res = {};
          const x = arr(6 * MB);  // 24 MB: 3 chunks of 8 MB
          const d = arelu.cuda.upload(x);
          const t0 = Date.now();
          const p = d.downloadAsync();
          arelu.cuda.synchronize();
          res.syncMs = Date.now() - t0;
          res.whole = same(await p, x);
          res.doneMs = Date.now() - t0;
          d.free();
          // Concurrent downloads, one larger than the pinned ring (5 chunks, 4 slots).
          const sizes = [1, 5, 4096, 100003, 2 ** 20 + 7, 9 * MB + 3];
          const bufs = sizes.map(arr), ds = bufs.map((b) => arelu.cuda.upload(b));
          const all = await Promise.all(ds.map((b) => b.downloadAsync()));
          res.sizes = all.map((g, i) => same(g, bufs[i]));
          // A download, then a forward that overwrites the buffer in place.
          const p2 = ds[4].downloadAsync();
          arelu.forward(ds[4], { alpha: 0.5, beta: 0 }, { out: ds[4] });
          res.before = same(await p2, bufs[4]);
          res.after = same(await ds[4].downloadAsync(), arelu.forward(bufs[4], { alpha: 0.5, beta: 0 }));
          ds.forEach((b) => b.free());
          print(res);
        })();
      `, standIn ? { ARELU_EMU_NO_POOLS: '1', ARELU_EMU_HOST_COPY_MS: '250' } : { ARELU_CUDA_DOWNLOAD: 'staged' });
      expect(out.whole, 'bytes of the 3-chunk download').to.equal(true);
      if (standIn) {
        expect(out.syncMs, 'synchronize() after downloadAsync, ms').to.be.below(250);
        expect(out.doneMs, 'the download itself, ms').to.be.at.least(750);
      }
      expect(out.sizes).to.deep.equal([true, true, true, true, true, true]);
      expect(out.before, 'the download sees the data from before the forward').to.equal(true);
      expect(out.after, 'the forward after it').to.equal(true);
    });

    it('many concurrent async calls all settle, with the right sums', async function () {
      const n = 100003, x = h.randomArray(n), dy = h.randomArray(n);
      const xd = arelu.cuda.upload(x), gd = arelu.cuda.upload(dy);
      const want = arelu.backward(xd, gd, { alpha: 0.5, beta: 0 });
      want.dx.free();
      const all = await Promise.all(Array.from({ length: 50 }, () => arelu.backwardAsync(xd, gd, { alpha: 0.5, beta: 0 })));
      for (const g of all) {
        expect(g.dAlpha).to.equal(want.dAlpha);
        expect(g.dBeta).to.equal(want.dBeta);
        g.dx.free();
      }
      xd.free();
      gd.free();
    });
  });

  describe("the caller's current device", function () {
    it('every call restores it, whichever device the call works on; two devices compute independently (CPU stand-in only)', function () {
      // Two stand-in devices. The test thread plays an application that
      // made a device current for its own CUDA work, then calls every
      // arelu.cuda entry point on the other device. The stand-in also
      // rejects a launch into a stream of a device other than the current
      // one, so the work itself must select its device.
      if (!onStandIn()) this.skip();
      const out = inChild(`
        const native = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'native'))}).native;
        const dev = native.cuda.emuCurrentDevice;
        const arr = (n) => Float32Array.from({ length: n }, () => rnd() * 8 - 4);
        const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
        (async () => {
          const moved = [], wrong = [];
          for (const [home, device] of [[1, 0], [0, 1], [1, 1]]) {
            dev(home);
            const check = (what) => { if (dev() !== home) { moved.push(home + '/' + device + ': ' + what); dev(home); } };
            const shape = [4, 3, 200], opts = { shape, channelAxis: 1 }, n = 2400;
            const params = { alpha: Float32Array.of(0.2, 0.5, 0.9), beta: Float32Array.of(-1, 0, 2) };
            const x = arr(n), g = arr(n);
            arelu.info(); check('info');
            arelu.cuda.devices(); check('devices');
            arelu.cuda.memInfo({ device }); check('memInfo');
            const xd = arelu.cuda.upload(x, { device }); check('upload');
            const gd = arelu.cuda.upload(g, { device }); check('upload');
            const yd = arelu.cuda.alloc(n, { device }); check('alloc');
            arelu.forward(xd, params, { ...opts, out: yd }); check('forward');
            const r = arelu.backward(xd, gd, params, opts); check('backward');
            const ya = await arelu.forwardAsync(xd, params, opts); check('forwardAsync');
            const ra = await arelu.backwardAsync(xd, gd, params, opts); check('backwardAsync');
            const e0 = native.cuda.eventRecord(device); check('eventRecord');
            const zd = arelu.cuda.alloc(n, { device });
            native.cuda.copy(zd.handle, yd.handle); check('copy');
            const e1 = native.cuda.eventRecord(device);
            native.cuda.eventElapsed(e0, e1); check('eventElapsed');
            arelu.cuda.synchronize({ device }); check('synchronize');
            const y = yd.download(); check('download');
            const z = await zd.downloadAsync(); check('downloadAsync');
            const cy = arelu.forward(x, params, opts), cg = arelu.backward(x, g, params, opts);
            if (!same(y, cy) || !same(z, cy) || !same(await ya.downloadAsync(), cy)) wrong.push(device + ': y');
            if (!same(r.dx.download(), cg.dx) || !same(ra.dx.download(), cg.dx)) wrong.push(device + ': dx');
            if (!same(r.dAlpha, ra.dAlpha) || !same(r.dBeta, ra.dBeta)) wrong.push(device + ': sums sync/async');
            for (let c = 0; c < 3; c++)
              if (Math.abs(r.dBeta[c] - cg.dBeta[c]) > 1e-9 * (1 + Math.abs(cg.dBeta[c]))) wrong.push(device + ': dBeta');
            for (const b of [xd, gd, yd, zd, ya, r.dx, ra.dx]) { b.free(); check('free'); }
            if ([xd, ya, r.dx].some((b) => b.device !== device)) wrong.push(device + ': .device');
          }
          print({ moved, wrong, devices: arelu.cuda.deviceCount() });
        })();
      `, { ARELU_EMU_DEVICES: '2' });
      expect(out).to.deep.equal({ moved: [], wrong: [], devices: 2 });
    });
  });

  describe("backward's second pass", function () {
    // [shape, channelAxis, partials per channel on the stand-in's 3 SMs,
    // folded by default]: every form of the folded pass (the block form
    // for one channel or up to 4 channels, groups of 8 or 16 lanes for up
    // to 32 or 64 partials per channel) and a call sent to the separate
    // kernel (more than 4 channels of more than 64 partials).
    const CASES = [
      [[5000], undefined, 'flat', true],
      [[300001], undefined, 'flat', true],
      [[20, 64, 128], 1, 'rows, 20 per channel, 64 channels', true],
      [[48, 40, 256], 1, 'rows, 48 per channel, 40 channels', true],
      [[300, 2, 256], 1, 'rows, 300 per channel, 2 channels', true],
      [[100, 3, 128], 1, 'rows, 100 per channel, 3 channels', true],
      [[40, 5, 8], 2, 'cols, 1 per channel', true],
      [[900, 40], 1, 'cols, 18 per channel', true],
      [[64, 300], 1, 'cols, 22 per channel, 300 channels', true],
      [[1, 10, 50], 1, 'cols, 50 per channel', true],
      [[100, 6, 128], 1, 'rows, 100 per channel, 6 channels', false],
    ];
    const BODY = `
      const fs = require('fs');
      const trace = () => fs.existsSync(process.env.ARELU_EMU_TRACE) ? fs.readFileSync(process.env.ARELU_EMU_TRACE, 'utf8').split('\\n').filter(Boolean) : [];
      const hex = (v) => { const b = Buffer.alloc(8); b.writeDoubleLE(v); return b.toString('hex'); };
      const arr = (n) => Float32Array.from({ length: n }, () => rnd() * 8 - 4);
      const out = [];
      for (const [shape, axis] of ${JSON.stringify(CASES.map(([s, a]) => [s, a === undefined ? null : a]))}) {
        const n = shape.reduce((a, b) => a * b, 1), C = axis === null ? 1 : shape[axis];
        const opts = axis === null ? {} : { shape, channelAxis: axis };
        const params = axis === null ? { alpha: 0.4, beta: 0.3 }
          : { alpha: Float32Array.from({ length: C }, () => rnd()), beta: Float32Array.from({ length: C }, () => rnd() * 4 - 2) };
        const xd = arelu.cuda.upload(arr(n)), gd = arelu.cuda.upload(arr(n));
        const before = trace().length;
        const r = arelu.backward(xd, gd, params, opts);
        const launched = trace().slice(before);
        const sums = [r.dAlpha, r.dBeta].flatMap((v) => (typeof v === 'number' ? [v] : Array.from(v)));
        out.push({ launches: launched.length, separate: launched.filter((l) => /RArgs/.test(l)).length, bits: sums.map(hex).join('') });
        for (const d of [xd, gd, r.dx]) d.free();
      }
      print(out);`;

    it('is folded into the first kernel unless a call has many partials; both forms give the same bits (CPU stand-in only)', function () {
      if (!onStandIn()) this.skip();
      const run = (mode) => {
        const file = path.join(os.tmpdir(), `arelu-trace-${process.pid}-${mode}-${Date.now()}`);
        try {
          return inChild(BODY, { ARELU_EMU_TRACE: file, ARELU_CUDA_SECOND_PASS: mode });
        } finally {
          require('fs').rmSync(file, { force: true });
        }
      };
      const auto = run('auto'), fold = run('fold'), kernel = run('kernel');
      CASES.forEach(([shape, , what, folded], i) => {
        const name = `[${shape}] (${what})`;
        expect(auto[i], `${name}: launches by default`).to.include({ launches: folded ? 1 : 2, separate: folded ? 0 : 1 });
        expect(fold[i], `${name}: launches, always folded`).to.include({ launches: 1, separate: 0 });
        expect(kernel[i], `${name}: launches, always a kernel`).to.include({ launches: 2, separate: 1 });
        expect(fold[i].bits, `${name}: sums folded vs by default`).to.equal(auto[i].bits);
        expect(kernel[i].bits, `${name}: sums of the separate kernel vs by default`).to.equal(auto[i].bits);
      });
    });

    it('writes the sums straight into pinned host memory, or copies them from the device (ARELU_CUDA_SUMS=copy): the same bits', function () {
      // Every form of the second pass (folded and separate), both ways.
      const direct = inChild(BODY, {}), copied = inChild(BODY, { ARELU_CUDA_SUMS: 'copy' });
      CASES.forEach(([shape, , what], i) => {
        expect(copied[i].bits, `[${shape}] (${what})`).to.equal(direct[i].bits);
        expect(direct[i].bits).to.match(/^[0-9a-f]+$/);
      });
    });
  });

  describe('per-channel forward plans', function () {
    // The flat walk (default where a layout's float4s fit: aligned, a
    // period of channels * inner that is a multiple of 4) against the
    // layout's own plan (rows or cols, ARELU_CUDA_FWD_PLAN=layout): inner
    // runs of 1 (NHWC), 3 and 5 (channels change inside a float4), 20,
    // 256 and 9000; periods shorter and longer than the grid stride; and
    // a layout that keeps the layout's plan (a period of 21). Device
    // buffers are always aligned.
    const SHAPES = [
      [[40, 5, 5, 8], 3], [[48, 2048], 1], [[64, 12, 3], 1], [[33, 4, 5], 1], [[7, 5, 20], 1],
      [[3, 4, 16, 16], 1], [[2, 2, 9000], 1], [[2, 300, 3, 7], 1], [[1, 4096, 1], 1],
      [[64, 7, 3], 1], [[5, 7, 20], 2],
    ];
    const BODY = `
      const crypto = require('crypto');
      const out = [];
      for (const [shape, axis] of ${JSON.stringify(SHAPES)}) {
        const n = shape.reduce((a, b) => a * b, 1), C = shape[axis];
        const params = { alpha: Float32Array.from({ length: C }, () => rnd()), beta: Float32Array.from({ length: C }, () => rnd() * 4 - 2) };
        const xd = arelu.cuda.upload(Float32Array.from({ length: n }, () => rnd() * 8 - 4));
        const yd = arelu.cuda.upload(new Float32Array(n).fill(NaN));
        arelu.forward(xd, params, { shape, channelAxis: axis, out: yd });
        const y = yd.download();
        xd.free(); yd.free();
        out.push(crypto.createHash('sha256').update(Buffer.from(y.buffer, y.byteOffset, y.byteLength)).digest('hex'));
      }
      print(out);`;

    it('the flat walk gives the bits of the layout plans (rows, cols) on every layout', function () {
      const flat = inChild(BODY, {}), layout = inChild(BODY, { ARELU_CUDA_FWD_PLAN: 'layout' });
      expect(flat).to.have.length(SHAPES.length);
      flat.forEach((hash, i) => expect(hash, `[${SHAPES[i][0]}], channelAxis ${SHAPES[i][1]}`).to.equal(layout[i]));
    });
  });

  describe('sticky errors', function () {
    it(`after an illegal address the device is dead: every call reports it, nothing hangs or crashes ${FAULTS}`, function () {
      // The fault runs in a child: it kills that process's context.
      if (!canFault()) this.skip();
      const script = `
        const arelu = require(${JSON.stringify(path.join(__dirname, '..'))});
        const out = [];
        const code = (f) => { try { f(); return 'ok'; } catch (e) { return e.code + ':' + e.cudaError; } };
        (async () => {
          const xd = arelu.cuda.upload(new Float32Array(1000).fill(1));
          out.push(code(() => arelu.forward(xd, {}, { out: xd })));           // launch 1 faults, queued
          out.push(code(() => arelu.cuda.synchronize()));
          out.push(code(() => arelu.backward(xd, xd)));
          try { await arelu.backwardAsync(xd, xd); out.push('ok'); } catch (e) { out.push(e.code + ':' + e.cudaError); }
          try { await xd.downloadAsync(); out.push('ok'); } catch (e) { out.push(e.code + ':' + e.cudaError); }
          out.push(code(() => arelu.cuda.alloc(4)));
          out.push(code(() => xd.free()));
          console.log(JSON.stringify(out));
        })();`;
      const r = spawnSync(process.execPath, ['-e', script], {
        encoding: 'utf8', timeout: 60000, env: { ...process.env, ARELU_TEST_FAIL_LAUNCH: '1' },
      });
      expect(r.status, r.stderr).to.equal(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop());
      // The fault surfaces at the launch check or at the next call, as on a GPU.
      expect(out[0]).to.be.oneOf(['ok', 'ERR_ARELU_CUDA:cudaErrorIllegalAddress']);
      for (const o of out.slice(1)) expect(o).to.equal('ERR_ARELU_CUDA:cudaErrorIllegalAddress');
    });

    it(`async calls queued behind the faulting one all reject with the sticky error; none stays pending ${FAULTS}`, function () {
      // Launch 1 faults 50 ms after it starts: the calls behind it were
      // queued on a live device, so only their completion can report it.
      if (!canFault()) this.skip();
      const out = inChild(`
        (async () => {
          const xd = arelu.cuda.upload(new Float32Array(4096).fill(1)), yd = arelu.cuda.alloc(4096);
          const calls = [arelu.forwardAsync(xd, {}, { out: yd })];  // launch 1: faults
          for (let i = 0; i < 4; i++) calls.push(arelu.backwardAsync(xd, xd, {}, { out: yd }), arelu.forwardAsync(xd, {}, { out: yd }));
          const timeout = new Promise((r) => setTimeout(() => r('pending after 10 s'), 10000));
          const settled = await Promise.race([Promise.allSettled(calls), timeout]);
          print(typeof settled === 'string' ? settled : settled.map((s) => s.status === 'rejected' ? s.reason.cudaError : 'resolved'));
          process.exit(0);
        })();
      `, { ARELU_TEST_FAIL_LAUNCH: '1', ARELU_TEST_FAULT_MS: '50' });
      expect(out).to.deep.equal(new Array(9).fill('cudaErrorIllegalAddress'));
    });
  });

  describe('a download through pinned chunks when the device dies midway', function () {
    it(`rejects with the sticky error; the chunks queued before it write nothing and are cleaned up ${FAULTS}`, function () {
      // 40 chunks of 8 MB; queueing each waits a little on the stand-in,
      // and launch 1 (queued just before) faults after 20 ms: some chunks
      // are queued, then enqueueing fails.
      if (!canFault()) this.skip();
      const out = inChild(`
        (async () => {
          const n = 80 * 2 ** 20, x = new Float32Array(n).fill(3);
          const xd = arelu.cuda.upload(x);
          const into = new Float32Array(n).fill(7);
          arelu.forward(xd, {}, { out: xd });  // launch 1: faults after 20 ms
          let err = 'resolved';
          try { await xd.downloadAsync(into); } catch (e) { err = e.cudaError; }
          await new Promise((r) => setTimeout(r, 300));
          print({ err, untouched: into.every((v) => v === 7) });
        })();
      `, { ARELU_TEST_FAIL_LAUNCH: '1', ARELU_TEST_FAULT_MS: '20', ...STAGED });
      expect(out).to.deep.equal({ err: 'cudaErrorIllegalAddress', untouched: true });
    });
  });

  describe('teardown with callbacks still to come', function () {
    for (const [how, env] of [['', {}], [', downloads through pinned chunks', STAGED]]) {
    it(`a worker ends after its device died with async calls queued: their late callbacks touch nothing freed${how} ${FAULTS}`, function () {
      // The stand-in faults launch 1 after 400 ms and stalls the stream
      // 400 ms more, so the worker queues calls behind the fault, sees the
      // device die (a call marks it dead), and exits while their callbacks
      // are still to come: its environment's cleanup does not wait for a
      // dead device. The callbacks then run in a live process (under ASan
      // in CI: any use of the worker's freed state is reported).
      if (!canFault()) this.skip();
      const out = inChild(`
        const { Worker } = require('worker_threads');
        function workerMain() {
          const { parentPort, workerData } = require('worker_threads');
          const arelu = require(workerData);
          const xd = arelu.cuda.upload(new Float32Array(4096).fill(1));
          arelu.forward(xd, {}, { out: xd });  // launch 1: faults, slowly
          for (let i = 0; i < 20; i++) arelu.backwardAsync(xd, xd).catch(() => {});
          arelu.forwardAsync(xd, {}, { out: xd }).catch(() => {});
          xd.downloadAsync().catch(() => {});
          const poll = () => {
            try { arelu.forward(xd, {}, { out: xd }); } catch (e) {
              parentPort.postMessage(e.cudaError);  // the device is dead now
              process.exit(0);
            }
            setTimeout(poll, 5);
          };
          poll();
        }
        const w = new Worker('(' + workerMain + ')()', { eval: true, workerData: ${JSON.stringify(path.join(__dirname, '..'))} });
        let seen = null;
        w.on('message', (m) => { seen = m; });
        w.on('error', (e) => { seen = String(e); });
        w.on('exit', () => setTimeout(() => print({ seen, alive: true }), 1500));
      `, { ARELU_TEST_FAIL_LAUNCH: '1', ARELU_TEST_FAULT_MS: '400', ...env });
      expect(out).to.deep.equal({ seen: 'cudaErrorIllegalAddress', alive: true });
    });
    }
  });

  describe('workers that exit with GPU calls in flight', function () {
    it('leave the process alive when only they loaded the addon', function () {
      // Each worker queues async calls and exits at once: the completions
      // reach an environment that can no longer run JS, and once the last
      // environment that loaded it is gone Node closes the addon while the
      // device's completer and copy threads live on (both crashed the
      // process: an abort, then a SIGSEGV in unmapped code, every run).
      function workerMain() {
        const arelu = require(require('worker_threads').workerData);
        const n = 1 << 16;
        const xd = arelu.cuda.upload(new Float32Array(n).fill(1)), yd = arelu.cuda.alloc(n);
        for (let i = 0; i < 20; i++) {
          arelu.backwardAsync(xd, xd, {}, { out: yd }).catch(() => {});
          arelu.forwardAsync(xd, { alpha: [0.5] }, { out: yd, shape: [n], channelAxis: 0 }).catch(() => {});
        }
        yd.downloadAsync().catch(() => {});
        setTimeout(() => process.exit(0), 0);
      }
      const r = h.runExitingWorkers(workerMain, 10);
      expect(r.status, `exit ${r.status} (${r.signal}): ${r.stderr}`).to.equal(0);
      expect(r.stdout.trim()).to.equal('alive');
    });
  });

  describe('64-bit lengths', function () {
    const n = 2 ** 31 + 21;
    it(`forward and backward in place on ${n} elements (2^31 + 21)`, function () {
      this.timeout(Math.max(GPU_TIMEOUT, process.env.ARELU_GPU_TEST_TIMEOUT_MS ? 0 : 900000));
      const mem = arelu.cuda.memInfo();
      // The CPU stand-in's device memory is host memory: it needs both.
      const emulated = /emulation/.test(arelu.cuda.devices()[0].name);
      const hostNeed = (emulated ? 20 : 12) * 2 ** 30;
      if (os.freemem() < hostNeed || mem.free < 12 * 2 ** 30) {
        this.test.title += ` (skipped: needs ${hostNeed / 2 ** 30} GiB of free host and 12 GiB of device memory)`;
        this.skip();
      }
      let x = new Float32Array(n);
      const probe = [0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, n - 2, n - 1];
      const vals = [1, -1, 2, -2, 3, -3, 4];
      probe.forEach((i, k) => { x[i] = vals[k]; });
      const xd = arelu.cuda.upload(x);
      arelu.forward(xd, { alpha: 0.5, beta: 0 }, { out: xd });
      const ys = vals.map((v) => (v > 0 ? v * 1.5 : v * 0.5));
      const g = arelu.backward(xd, xd, { alpha: 0.5, beta: 0 }, { out: xd });
      xd.download(x);
      xd.free();
      probe.forEach((i, k) => expect(x[i], `dx[${i}]`).to.equal(ys[k] > 0 ? ys[k] * 1.5 : ys[k] * 0.5));
      expect(g.dAlpha).to.equal(-ys.filter((v) => v < 0).reduce((s, v) => s + v * -v, 0));
      expect(g.dBeta).to.equal(ys.filter((v) => v > 0).reduce((s, v) => s + v * v, 0) * 0.25);
      x = null;
    });
  });
});
