/**
 * arelu: the AReLU activation (learnable ReLU; negatives scaled by a clamped
 * alpha, positives by 1 + sigmoid(beta)), forward and backward as fused
 * native kernels on the CPU (scalar / AVX2 / AVX-512, threaded) and on
 * NVIDIA GPUs (CUDA). See SPEC.md §1 for the exact math.
 */
import { native } from './native';
import { typeError, rangeError } from './errors';
import { checkHostArray, checkNoPartialOverlap, checkOptions, checkThreadCount, resolve, LayoutOptions, Params, Resolved } from './args';
import * as cuda from './cuda';
import { DeviceBuffer, checkLive, requireCuda } from './cuda';

export { Params, LayoutOptions } from './args';
export { DeviceBuffer, CudaDevice, DeviceOptions } from './cuda';
export { AreluError, AreluErrorCode } from './errors';
export { cuda };

/** Options of a call: layout plus a preallocated output. */
export interface Options<T extends Float32Array | DeviceBuffer = Float32Array | DeviceBuffer> extends LayoutOptions {
  /** Output of the same kind and length as x; `out === x` computes in place. */
  out?: T;
}

/** Options for per-channel parameters: `shape` and `channelAxis` are required. */
export interface ChannelOptions<T extends Float32Array | DeviceBuffer = Float32Array | DeviceBuffer> extends Options<T> {
  shape: readonly number[];
  channelAxis: number;
}

/**
 * Result of `backward`: dL/dx and the parameter gradients. Per-channel
 * gradients of up to 256 channels are views of a shared 8 KiB buffer (never
 * reused or written by a later call): copy them before transferring `.buffer`.
 */
export interface Gradients<T, G extends number | Float64Array = number | Float64Array> {
  dx: T;
  /** dL/dalpha: a number, or a Float64Array per channel. */
  dAlpha: G;
  /** dL/dbeta: a number, or a Float64Array per channel. */
  dBeta: G;
}

/** What runs here: see `arelu info`. */
export interface Info {
  version: string;
  /** CPU instruction set in use: 'scalar' | 'avx2' | 'avx512' | 'neon'. */
  isa: string;
  /**
   * The kernels that run: the ISA's name, or 'avx512 (256-bit backward)' on
   * CPUs that run 512-bit operations as two halves (AMD Zen 4), where
   * backward is faster on 256-bit vectors (`ARELU_AVX512_BACKWARD=256|512`
   * forces one). Every choice gives the same bits.
   */
  cpuKernels: string;
  /** Instruction sets this CPU and build support. */
  isasSupported: string[];
  /** Threads of the CPU pool. */
  threads: number;
  /** Arrays shorter than these stay on the calling thread. */
  serialBelow: { forward: number; backward: number };
  /**
   * Arrays from `serialBelow` up to these use the pool only while it is awake
   * (a call of that size ended within the last `spinUs`, as in a loop of
   * calls): waking sleeping threads costs more than the work at these sizes.
   * Larger arrays always use the pool. They depend on the pool's size
   * (smaller with more threads, which repay the wake sooner).
   */
  idleSerialBelow: { forward: number; backward: number };
  /** Microseconds the pool's threads poll for the next job before they sleep (ARELU_SPIN_US). */
  spinUs: number;
  cuda: {
    compiled: boolean;
    available: boolean;
    /** Why CUDA is unavailable ('' when it is available). */
    reason: string;
    deviceCount: number;
    /** CUDA version the driver supports, as 1000 * major + 10 * minor (0: no driver). */
    driverVersion?: number;
    runtimeVersion?: number;
    /** The oldest driver this build runs on, e.g. "CUDA 13.0 or newer (NVIDIA driver R580 or newer)". */
    driverRequired?: string;
    devices: cuda.CudaDevice[];
  };
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const version: string = require('../package.json').version;

type Input = Float32Array | DeviceBuffer;

interface HostCall {
  kind: 'host';
  x: Float32Array;
  dy?: Float32Array;
  out: Float32Array;
  r: Resolved;
}
interface DeviceCall {
  kind: 'device';
  x: DeviceBuffer;
  dy?: DeviceBuffer;
  /** undefined: allocated on x's device once the call is known to be valid. */
  out?: DeviceBuffer;
  r: Resolved;
}

/** Validates one call completely before anything runs or is allocated on the device. */
function prepare(x: unknown, dy: unknown, hasDy: boolean, params: unknown, optsIn: unknown): HostCall | DeviceCall {
  const opts = checkOptions<Options>(optsIn);
  if (x instanceof DeviceBuffer) {
    checkLive(x, 'x');
    if (hasDy) {
      if (!(dy instanceof DeviceBuffer)) throw typeError('DeviceBuffer (x is a DeviceBuffer; do not mix host and device arrays)', 'dy', dy);
      checkLive(dy, 'dy');
      if (dy.length !== x.length) throw rangeError(`length ${x.length} (the length of x)`, 'dy', `length ${dy.length}`);
      if (dy.device !== x.device) throw rangeError(`a buffer on device ${x.device}`, 'dy', `device ${dy.device}`);
    }
    const out = opts.out;
    if (out !== undefined) {
      if (!(out instanceof DeviceBuffer)) throw typeError('DeviceBuffer (x is a DeviceBuffer)', 'opts.out', out);
      checkLive(out, 'opts.out');
      if (out.length !== x.length) throw rangeError(`length ${x.length} (the length of x)`, 'opts.out', `length ${out.length}`);
      if (out.device !== x.device) throw rangeError(`a buffer on device ${x.device}`, 'opts.out', `device ${out.device}`);
    }
    const r = resolve(x.length, params, opts);
    requireCuda();
    return { kind: 'device', x, dy: dy as DeviceBuffer | undefined, out, r };
  }
  const hx = checkHostArray(x, 'x', true);
  let hdy: Float32Array | undefined;
  if (hasDy) {
    if (dy instanceof DeviceBuffer) throw typeError('Float32Array (x is a Float32Array; do not mix host and device arrays)', 'dy', dy);
    hdy = checkHostArray(dy, 'dy', false);
    if (hdy.length !== hx.length) throw rangeError(`length ${hx.length} (the length of x)`, 'dy', `length ${hdy.length}`);
  }
  let out = opts.out as unknown;
  if (out !== undefined) {
    if (out instanceof DeviceBuffer) throw typeError('Float32Array (x is a Float32Array; do not mix host and device arrays)', 'opts.out', out);
    const hout = checkHostArray(out, 'opts.out', false);
    if (hout.length !== hx.length) throw rangeError(`length ${hx.length} (the length of x)`, 'opts.out', `length ${hout.length}`);
    checkNoPartialOverlap(hout, hx, 'x');
    if (hdy) checkNoPartialOverlap(hout, hdy, 'dy');
    out = hout;
  }
  const r = resolve(hx.length, params, opts);
  return { kind: 'host', x: hx, dy: hdy, out: (out as Float32Array | undefined) ?? new Float32Array(hx.length), r };
}

function deviceOut(c: DeviceCall): DeviceBuffer {
  return c.out ?? cuda.alloc(c.x.length, { device: c.x.device });
}

function gradients<T>(dx: T, r: Resolved, sums: Float64Array): Gradients<T> {
  if (r.perChannel) return { dx, dAlpha: sums.subarray(0, r.channels), dBeta: sums.subarray(r.channels) };
  return { dx, dAlpha: sums[0], dBeta: sums[1] };
}

// Per-channel dAlpha/dBeta are views of fresh, never reused slices of a
// shared 8 KiB slab when they are small, the way Node pools small Buffers:
// an ArrayBuffer allocation costs a few microseconds, as much as the kernels
// of a 16K-element layer (bench/RESULTS.md, "Per-channel calls").
const POOL_DOUBLES = 1024;
let pool = new Float64Array(0);
let poolUsed = 0;

/** Room for the 2 * channels per-channel sums. */
function perChannelSums(channels: number): Float64Array {
  const n = 2 * channels;
  if (n > POOL_DOUBLES / 2) return new Float64Array(n);
  if (poolUsed + n > pool.length) {
    pool = new Float64Array(POOL_DOUBLES);
    poolUsed = 0;
  }
  poolUsed += n;
  return pool.subarray(poolUsed - n, poolUsed);
}

// Reused by synchronous scalar-parameter calls (read before returning).
const scalarSums = new Float64Array(2);

/** A plain number parameter (or its default); undefined sends the call to full validation. */
function fastParam(params: Params | undefined, key: 'alpha' | 'beta', dflt: number): number | undefined {
  if (params === undefined) return dflt;
  if (typeof params !== 'object' || params === null) return undefined;
  const v = params[key];
  return v === undefined ? dflt : typeof v === 'number' ? v : undefined;
}

/**
 * [channels, inner] of a per-channel call with Float32Array parameters and
 * a plain-array shape (non-negative integers, product x.length) and integer
 * channelAxis; undefined sends the call to full validation. As with scalar
 * parameters, the native call checks the rest (the lengths of out and of
 * the parameters, overlaps, the layout), and a refused call is validated in
 * full for its error: 0.2-0.5 us less per call than the general path, 10-20%
 * of a 256-element call (bench/RESULTS.md, "Sixth session").
 */
function fastLayout(length: number, params: Params | undefined, opts: Options): [number, number] | undefined {
  if (typeof params !== 'object' || params === null || !(params.alpha instanceof Float32Array) ||
      !(params.beta instanceof Float32Array) || typeof opts !== 'object' || opts === null) return undefined;
  const shape = opts.shape, axis = opts.channelAxis;
  if (!Array.isArray(shape) || typeof axis !== 'number' || !Number.isInteger(axis)) return undefined;
  const rank = shape.length;
  if (axis < -rank || axis >= rank) return undefined;
  const a = axis < 0 ? axis + rank : axis;
  let product = 1, inner = 1;
  for (let i = 0; i < rank; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) return undefined;
    product *= d;
    if (i > a) inner *= d;
  }
  return product === length && shape[a] !== 0 ? [shape[a], Math.max(inner, 1)] : undefined;
}

/** opts with only a plain Float32Array out (the native call checks its length and overlaps). */
function fastOut(opts: Options): Float32Array | undefined {
  if (typeof opts !== 'object' || opts === null || opts.shape !== undefined || opts.channelAxis !== undefined) return undefined;
  const out = opts.out;
  return out instanceof Float32Array ? out : undefined;
}

/**
 * AReLU forward: y = x * (1 + sigmoid(beta)) for x > 0, x * clamp(alpha, 0.01, 0.99) for x < 0.
 *
 * @param x input: a Float32Array (computed on the CPU) or a DeviceBuffer (computed on its GPU)
 * @param params `{ alpha?, beta? }`: numbers (defaults 0.90 and 2.0), or arrays per channel
 * @param opts `{ out?, shape?, channelAxis? }`
 * @returns y, of the same kind as x (`opts.out` when given)
 * @throws {TypeError} wrong argument types, mixed host/device arrays, detached buffers
 * @throws {RangeError} length mismatches, a bad shape or channelAxis, a partially overlapping out
 * @throws {Error} `ERR_ARELU_FREED`, `ERR_ARELU_NO_CUDA`, `ERR_ARELU_CUDA` for device buffers
 * @example
 * const y = arelu.forward(new Float32Array([1, -2, 0.5]));
 * arelu.forward(x, { alpha: 0.5, beta: 1 }, { out: x });            // in place
 * arelu.forward(x, { alpha: a, beta: b }, { shape: [n, c, h, w], channelAxis: 1 }); // NCHW
 */
export function forward(x: Float32Array, params?: Params, opts?: Options<Float32Array>): Float32Array;
export function forward(x: DeviceBuffer, params?: Params, opts?: Options<DeviceBuffer>): DeviceBuffer;
export function forward(x: Input, params?: Params, opts?: Options): Input;
export function forward(x: Input, params?: Params, opts?: Options): Input {
  // Fast path for the common small call (scalar numbers, optional plain
  // out): a few type checks, then the native call, which checks lengths and
  // overlaps itself (reading `.buffer` in JS costs a runtime call per
  // array). When it refuses, the full validation below names the problem;
  // anything else takes that validation first.
  if (x instanceof Float32Array && x.length !== 0) {
    const alpha = fastParam(params, 'alpha', 0.9), beta = fastParam(params, 'beta', 2.0);
    if (alpha !== undefined && beta !== undefined) {
      const out = opts === undefined ? new Float32Array(x.length) : fastOut(opts);
      if (out !== undefined) {
        try {
          native.forwardScalar(x, out, alpha, beta);
        } catch (e) {
          prepare(x, undefined, false, params, opts);  // throws the full validation's error
          throw e;
        }
        return out;
      }
    }
  }
  // Fast path for per-channel calls, the same way.
  if (x instanceof Float32Array && x.length !== 0 && opts !== undefined) {
    const layout = fastLayout(x.length, params, opts);
    const out = layout && (opts.out === undefined ? new Float32Array(x.length) : opts.out);
    if (layout !== undefined && out instanceof Float32Array) {
      const p = params as { alpha: Float32Array; beta: Float32Array };
      try {
        native.forward(x, out, p.alpha, p.beta, layout[0], layout[1]);
      } catch (e) {
        prepare(x, undefined, false, params, opts);
        throw e;
      }
      return out;
    }
  }
  const c = prepare(x, undefined, false, params, opts);
  if (c.r.channels === 0) return c.kind === 'host' ? c.out : deviceOut(c);
  if (c.kind === 'host') {
    native.forward(c.x, c.out, c.r.alpha, c.r.beta, c.r.channels, c.r.inner);
    return c.out;
  }
  const out = deviceOut(c);
  native.cuda.forward(c.x.handle, out.handle, c.r.alpha, c.r.beta, c.r.channels, c.r.inner);
  return out;
}

/**
 * AReLU backward: dx, and dAlpha/dBeta summed over all elements (per channel
 * with `channelAxis`) in float64, bit-identical for any thread count and ISA.
 *
 * @param x the forward input
 * @param dy upstream gradient dL/dy, same kind and length as x
 * @param params as in `forward`
 * @param opts `{ out?, shape?, channelAxis? }`; `out` receives dx and may be exactly x or dy
 * @returns `{ dx, dAlpha, dBeta }`; dAlpha/dBeta are numbers, or Float64Arrays per channel
 * @throws {TypeError} wrong argument types, mixed host/device arrays, detached buffers
 * @throws {RangeError} length mismatches, a bad shape or channelAxis, a partially overlapping out
 * @throws {Error} `ERR_ARELU_FREED`, `ERR_ARELU_NO_CUDA`, `ERR_ARELU_CUDA` for device buffers
 * @example
 * const { dx, dAlpha, dBeta } = arelu.backward(x, dy, { alpha: 0.9, beta: 2 });
 */
export function backward(x: Float32Array, dy: Float32Array, params: Params | undefined, opts: ChannelOptions<Float32Array>): Gradients<Float32Array, Float64Array>;
export function backward(x: DeviceBuffer, dy: DeviceBuffer, params: Params | undefined, opts: ChannelOptions<DeviceBuffer>): Gradients<DeviceBuffer, Float64Array>;
export function backward(x: Float32Array, dy: Float32Array, params?: Params, opts?: Options<Float32Array>): Gradients<Float32Array, number>;
export function backward(x: DeviceBuffer, dy: DeviceBuffer, params?: Params, opts?: Options<DeviceBuffer>): Gradients<DeviceBuffer, number>;
export function backward(x: Input, dy: Input, params?: Params, opts?: Options): Gradients<Input>;
export function backward(x: Input, dy: Input, params?: Params, opts?: Options): Gradients<Input> {
  // Fast path, as in `forward`.
  if (x instanceof Float32Array && x.length !== 0 && dy instanceof Float32Array) {
    const alpha = fastParam(params, 'alpha', 0.9), beta = fastParam(params, 'beta', 2.0);
    if (alpha !== undefined && beta !== undefined) {
      const out = opts === undefined ? new Float32Array(x.length) : fastOut(opts);
      if (out !== undefined) {
        try {
          native.backwardScalar(x, dy, out, alpha, beta, scalarSums);
        } catch (e) {
          prepare(x, dy, true, params, opts);  // throws the full validation's error
          throw e;
        }
        return { dx: out, dAlpha: scalarSums[0], dBeta: scalarSums[1] };
      }
    }
  }
  if (x instanceof Float32Array && x.length !== 0 && dy instanceof Float32Array && opts !== undefined) {
    const layout = fastLayout(x.length, params, opts);
    const out = layout && (opts.out === undefined ? new Float32Array(x.length) : opts.out);
    if (layout !== undefined && out instanceof Float32Array) {
      const p = params as { alpha: Float32Array; beta: Float32Array };
      const C = layout[0], sums = perChannelSums(C);
      try {
        native.backward(x, dy, out, p.alpha, p.beta, C, layout[1], sums);
      } catch (e) {
        prepare(x, dy, true, params, opts);
        throw e;
      }
      return { dx: out, dAlpha: sums.subarray(0, C), dBeta: sums.subarray(C) };
    }
  }
  const c = prepare(x, dy, true, params, opts);
  const sums = c.r.perChannel ? perChannelSums(c.r.channels) : scalarSums;
  if (c.r.channels === 0) return gradients(c.kind === 'host' ? c.out : deviceOut(c), c.r, sums);
  if (c.kind === 'host') {
    native.backward(c.x, c.dy!, c.out, c.r.alpha, c.r.beta, c.r.channels, c.r.inner, sums);
    return gradients(c.out, c.r, sums);
  }
  const out = deviceOut(c);
  native.cuda.backward(c.x.handle, c.dy!.handle, out.handle, c.r.alpha, c.r.beta, c.r.channels, c.r.inner, sums);
  return gradients(out, c.r, sums);
}

/**
 * `forward` without blocking the event loop: the CPU work runs on a libuv
 * thread (and the addon's pool); device work completes through a stream
 * callback. Errors reject the promise. Do not transfer or detach the arrays
 * while the promise is pending.
 */
export async function forwardAsync(x: Float32Array, params?: Params, opts?: Options<Float32Array>): Promise<Float32Array>;
export async function forwardAsync(x: DeviceBuffer, params?: Params, opts?: Options<DeviceBuffer>): Promise<DeviceBuffer>;
export async function forwardAsync(x: Input, params?: Params, opts?: Options): Promise<Input>;
export async function forwardAsync(x: Input, params?: Params, opts?: Options): Promise<Input> {
  const c = prepare(x, undefined, false, params, opts);
  if (c.r.channels === 0) return c.kind === 'host' ? c.out : deviceOut(c);
  if (c.kind === 'host') {
    await native.forwardAsync(c.x, c.out, c.r.alpha, c.r.beta, c.r.channels, c.r.inner);
    return c.out;
  }
  const out = deviceOut(c);
  await native.cuda.forwardAsync(c.x.handle, out.handle, c.r.alpha, c.r.beta, c.r.channels, c.r.inner);
  return out;
}

/** `backward` without blocking the event loop (see `forwardAsync`). */
export async function backwardAsync(x: Float32Array, dy: Float32Array, params: Params | undefined, opts: ChannelOptions<Float32Array>): Promise<Gradients<Float32Array, Float64Array>>;
export async function backwardAsync(x: DeviceBuffer, dy: DeviceBuffer, params: Params | undefined, opts: ChannelOptions<DeviceBuffer>): Promise<Gradients<DeviceBuffer, Float64Array>>;
export async function backwardAsync(x: Float32Array, dy: Float32Array, params?: Params, opts?: Options<Float32Array>): Promise<Gradients<Float32Array, number>>;
export async function backwardAsync(x: DeviceBuffer, dy: DeviceBuffer, params?: Params, opts?: Options<DeviceBuffer>): Promise<Gradients<DeviceBuffer, number>>;
export async function backwardAsync(x: Input, dy: Input, params?: Params, opts?: Options): Promise<Gradients<Input>>;
export async function backwardAsync(x: Input, dy: Input, params?: Params, opts?: Options): Promise<Gradients<Input>> {
  const c = prepare(x, dy, true, params, opts);
  const sums = c.r.perChannel ? perChannelSums(c.r.channels) : new Float64Array(2);
  if (c.r.channels === 0) return gradients(c.kind === 'host' ? c.out : deviceOut(c), c.r, sums);
  if (c.kind === 'host') {
    await native.backwardAsync(c.x, c.dy!, c.out, c.r.alpha, c.r.beta, c.r.channels, c.r.inner, sums);
    return gradients(c.out, c.r, sums);
  }
  const out = deviceOut(c);
  await native.cuda.backwardAsync(c.x.handle, c.dy!.handle, out.handle, c.r.alpha, c.r.beta, c.r.channels, c.r.inner, sums);
  return gradients(out, c.r, sums);
}

/**
 * Sets the size of the CPU thread pool (the calling thread included).
 * @throws {TypeError} for a non-number; {RangeError} for a non-positive or non-integer count
 * @example arelu.setNumThreads(4);
 */
export function setNumThreads(n: number): void {
  native.setNumThreads(checkThreadCount(n));
}

/**
 * What runs here: package version, CPU ISA and threads, CUDA compiled /
 * available (with the reason when not) and devices.
 * @example console.log(arelu.info().isa); // 'avx512'
 */
export function info(): Info {
  const n = native.info();
  const s = native.cuda.status();
  return {
    version,
    isa: n.isa,
    cpuKernels: n.cpuKernels,
    isasSupported: n.isasSupported,
    threads: n.threads,
    serialBelow: n.serialBelow,
    idleSerialBelow: n.idleSerialBelow,
    spinUs: n.spinUs,
    cuda: {
      compiled: s.compiled,
      available: s.available,
      reason: s.available ? '' : s.reason,
      deviceCount: s.available ? s.deviceCount : 0,
      ...(s.driverVersion !== undefined ? { driverVersion: s.driverVersion } : {}),
      ...(s.runtimeVersion !== undefined ? { runtimeVersion: s.runtimeVersion } : {}),
      ...(s.driverRequired !== undefined ? { driverRequired: s.driverRequired } : {}),
      devices: s.available ? cuda.devices() : [],
    },
  };
}

/**
 * Selects the CPU instruction set at run time (as `ARELU_CPU_ISA` does at
 * load): 'scalar' | 'avx2' | 'avx512' | 'neon' | 'auto'. Returns the ISA now in use.
 * @throws {Error} `ERR_ARELU_ISA` when this CPU or build lacks it
 */
export function setCpuIsa(isa: 'scalar' | 'avx2' | 'avx512' | 'neon' | 'auto'): string {
  if (typeof isa !== 'string') throw typeError("'scalar', 'avx2', 'avx512', 'neon' or 'auto'", 'isa', isa);
  return native.setIsa(isa);
}

/**
 * Copies src into dst on the addon's thread pool: the multi-threaded memory
 * bandwidth baseline used by `arelu bench`.
 */
export function parallelCopy(dst: Float32Array, src: Float32Array): void {
  native.parallelCopy(checkHostArray(dst, 'dst', false), checkHostArray(src, 'src', false));
}

