/**
 * The GPU half of the API: device queries, DeviceBuffer handles, and the
 * CUDA forward/backward used by `forward`/`backward` when given
 * DeviceBuffers. Every call reports `ERR_ARELU_NO_CUDA` with the reason when
 * CUDA is not compiled in or no driver/device is present.
 */
import { native, NativeDeviceHandle, NativeDeviceInfo } from './native';
import { codedError, rangeError, typeError } from './errors';
import { checkHostArray } from './args';

/** One CUDA device as the driver reports it. */
export interface CudaDevice {
  index: number;
  name: string;
  /** "major.minor", e.g. "9.0" for an H200. */
  computeCapability: string;
  /** Bytes of device memory. */
  totalMemory: number;
  multiProcessorCount: number;
}

/** Options of `upload` and `alloc`. */
export interface DeviceOptions {
  /** Device index (default 0). */
  device?: number;
}

/**
 * A float32 array in GPU memory. `forward`/`backward` given DeviceBuffers
 * compute on their device and return DeviceBuffers. Free it with `free()`
 * (idempotent); the native handle's finalizer frees a forgotten buffer when
 * it is garbage-collected.
 */
export class DeviceBuffer {
  /** Number of float32 elements. */
  readonly length: number;
  /** Device index. */
  readonly device: number;
  /** @internal */
  readonly handle: NativeDeviceHandle;

  /** @internal Use `cuda.upload` or `cuda.alloc`. */
  constructor(handle: NativeDeviceHandle, length: number, device: number) {
    this.handle = handle;
    this.length = length;
    this.device = device;
  }

  /** Size in bytes (4 x length). */
  get byteLength(): number {
    return this.length * 4;
  }

  /** True after `free()`. */
  get freed(): boolean {
    return native.cuda.isFreed(this.handle);
  }

  /**
   * Copies the buffer to host memory.
   * @param into optional Float32Array of the same length to fill
   * @throws {Error} `ERR_ARELU_FREED` after `free()`
   * @example const host = buf.download();
   */
  download(into?: Float32Array): Float32Array {
    const dst = into === undefined ? new Float32Array(this.length) : checkHostArray(into, 'into', false);
    if (dst.length !== this.length) throw rangeError(`a Float32Array of length ${this.length}`, 'into', `length ${dst.length}`);
    native.cuda.download(this.handle, dst);
    return dst;
  }

  /** Like `download`, without blocking the event loop. */
  async downloadAsync(into?: Float32Array): Promise<Float32Array> {
    const dst = into === undefined ? new Float32Array(this.length) : checkHostArray(into, 'into', false);
    if (dst.length !== this.length) throw rangeError(`a Float32Array of length ${this.length}`, 'into', `length ${dst.length}`);
    await native.cuda.downloadAsync(this.handle, dst);
    return dst;
  }

  /**
   * Frees the device memory now (after the work already queued on its
   * device, which may still use it). Calling it again does nothing.
   */
  free(): void {
    native.cuda.free(this.handle);
  }
}

function checkDevice(opts: DeviceOptions | undefined): number {
  if (opts === undefined) return 0;
  if (opts === null || typeof opts !== 'object') throw typeError('object { device? }', 'opts', opts);
  const d = opts.device ?? 0;
  if (typeof d !== 'number') throw typeError('non-negative integer', 'opts.device', d);
  if (!Number.isInteger(d) || d < 0) throw rangeError('non-negative integer', 'opts.device', String(d));
  return d;
}

// The native probe runs once per process, so its answer is kept here too:
// asking the addon builds a status object, about 1.2 us of every DeviceBuffer
// call (bench/RESULTS.md, "Fifteenth session").
let probed: { reason: string | undefined } | undefined;

/** Why CUDA cannot be used here, or undefined when it can. */
function unavailable(): string | undefined {
  if (probed === undefined) {
    const s = native.cuda.status();
    probed = { reason: s.available ? undefined : s.reason };
  }
  return probed.reason;
}

/** @internal Throws ERR_ARELU_NO_CUDA when no GPU can be used. */
export function requireCuda(): void {
  const why = unavailable();
  if (why !== undefined) throw codedError('ERR_ARELU_NO_CUDA', `arelu: CUDA is not available: ${why}`, why);
}

/** True when CUDA is compiled in and a driver and at least one device are present. */
export function isAvailable(): boolean {
  return unavailable() === undefined;
}

/** Number of usable CUDA devices (0 when CUDA is unavailable). */
export function deviceCount(): number {
  const s = native.cuda.status();
  return s.available ? s.deviceCount : 0;
}

/**
 * The CUDA devices.
 * @throws {Error} `ERR_ARELU_NO_CUDA` when CUDA is unavailable
 */
export function devices(): CudaDevice[] {
  requireCuda();
  return native.cuda.devices().map((d: NativeDeviceInfo) => ({ ...d }));
}

/**
 * Copies a Float32Array to a new DeviceBuffer.
 * @throws {Error} `ERR_ARELU_NO_CUDA`, or `ERR_ARELU_CUDA` (e.g. out of memory)
 * @example const xd = arelu.cuda.upload(new Float32Array([1, -2, 3]));
 */
export function upload(x: Float32Array, opts?: DeviceOptions): DeviceBuffer {
  const src = checkHostArray(x, 'x', false);
  const device = checkDevice(opts);
  requireCuda();
  return new DeviceBuffer(native.cuda.upload(src, device), src.length, device);
}

/**
 * Allocates an uninitialised DeviceBuffer of `length` float32 elements.
 * @throws {RangeError} for a length that is not a non-negative integer
 * @throws {Error} `ERR_ARELU_NO_CUDA`, or `ERR_ARELU_CUDA` (e.g. out of memory)
 */
export function alloc(length: number, opts?: DeviceOptions): DeviceBuffer {
  if (typeof length !== 'number') throw typeError('non-negative integer', 'length', length);
  if (!Number.isInteger(length) || length < 0 || length > Number.MAX_SAFE_INTEGER / 4)
    throw rangeError('non-negative integer', 'length', String(length));
  const device = checkDevice(opts);
  requireCuda();
  return new DeviceBuffer(native.cuda.alloc(length, device), length, device);
}

/** @internal Throws ERR_ARELU_FREED for a freed buffer. */
export function checkLive(buf: DeviceBuffer, name: string): void {
  if (buf.freed) throw codedError('ERR_ARELU_FREED', `Expected a live DeviceBuffer for ${name} but it was freed`);
}

/**
 * Waits until all work queued on the device's stream is done. `forward`
 * with DeviceBuffers only queues its kernel (as CUDA frameworks do); a
 * download, `backward` (which returns its sums) and this call wait for it.
 * An error of queued work is reported here as `ERR_ARELU_CUDA`.
 * @throws {Error} `ERR_ARELU_NO_CUDA`, `ERR_ARELU_CUDA`
 * @example arelu.forward(xd, params, { out: yd }); arelu.cuda.synchronize();
 */
export function synchronize(opts?: DeviceOptions): void {
  const device = checkDevice(opts);
  requireCuda();
  native.cuda.synchronize(device);
}

/**
 * Free and total device memory in bytes (cudaMemGetInfo).
 * @throws {Error} `ERR_ARELU_NO_CUDA`
 * @example const { free, total } = arelu.cuda.memInfo();
 */
export function memInfo(opts?: DeviceOptions): { free: number; total: number } {
  const device = checkDevice(opts);
  requireCuda();
  return native.cuda.memInfo(device);
}
