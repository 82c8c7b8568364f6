/**
 * Loads the native addon and types everything that crosses the boundary, so
 * no `any` leaks into the API. Loading goes through node-gyp-build from the
 * package root: build/Release in a development clone, prebuilds/ in an
 * installed package. When nothing loads, one error lists what was tried and
 * how to fix it.
 * @internal
 */
import * as path from 'path';
import { codedError } from './errors';

/** @internal */
export interface NativeCudaStatus {
  compiled: boolean;
  available: boolean;
  reason: string;
  deviceCount: number;
  driverVersion?: number;
  runtimeVersion?: number;
  /** The oldest driver the compiled-in CUDA runtime runs on, in words. */
  driverRequired?: string;
}

/** @internal An opaque device-buffer handle owned by the addon. */
export interface NativeDeviceHandle {
  readonly __areluDeviceHandle: unique symbol;
}

/** @internal */
export interface NativeDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiProcessorCount: number;
}

/** @internal */
export interface NativeCuda {
  status(): NativeCudaStatus;
  devices(): NativeDeviceInfo[];
  alloc(length: number, device: number): NativeDeviceHandle;
  upload(src: Float32Array, device: number): NativeDeviceHandle;
  download(handle: NativeDeviceHandle, into: Float32Array): void;
  downloadAsync(handle: NativeDeviceHandle, into: Float32Array): Promise<void>;
  free(handle: NativeDeviceHandle): void;
  isFreed(handle: NativeDeviceHandle): boolean;
  forward(x: NativeDeviceHandle, out: NativeDeviceHandle, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number): void;
  backward(x: NativeDeviceHandle, dy: NativeDeviceHandle, out: NativeDeviceHandle,
    alpha: number | Float32Array, beta: number | Float32Array, channels: number, inner: number,
    sums: Float64Array): void;
  forwardAsync(x: NativeDeviceHandle, out: NativeDeviceHandle, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number): Promise<void>;
  backwardAsync(x: NativeDeviceHandle, dy: NativeDeviceHandle, out: NativeDeviceHandle,
    alpha: number | Float32Array, beta: number | Float32Array, channels: number, inner: number,
    sums: Float64Array): Promise<void>;
  copy(dst: NativeDeviceHandle, src: NativeDeviceHandle): void;
  synchronize(device: number): void;
  /** Benchmark timing: an event recorded on the device's stream; milliseconds between two. */
  eventRecord(device: number): unknown;
  eventElapsed(start: unknown, stop: unknown): number;
  /** cudaMemGetInfo: free and total device memory in bytes. */
  memInfo(device: number): { free: number; total: number };
}

/** @internal */
export interface NativeInfo {
  isa: string;
  cpuKernels: string;
  isasSupported: string[];
  bestIsa: string;
  threads: number;
  serialBelow: { forward: number; backward: number };
  idleSerialBelow: { forward: number; backward: number };
  /** Jobs that woke pool threads so far (tests: small calls wake none). */
  parallelJobs: number;
  spinUs: number;
}

/** @internal The TF-op path (native/tfop): TensorFlow ops in tfjs-node's runtime. */
export interface NativeTfop {
  register(): { ok: boolean; reason: string; reused: boolean; libraries: string[] };
  forwardOp: string;
  gradOp: string;
}

/** @internal */
export interface NativeAddon {
  forward(x: Float32Array, out: Float32Array, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number): void;
  backward(x: Float32Array, dy: Float32Array, out: Float32Array, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number, sums: Float64Array): void;
  forwardScalar(x: Float32Array, out: Float32Array, alpha: number, beta: number): void;
  backwardScalar(x: Float32Array, dy: Float32Array, out: Float32Array, alpha: number, beta: number,
    sums: Float64Array): void;
  forwardAsync(x: Float32Array, out: Float32Array, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number): Promise<void>;
  backwardAsync(x: Float32Array, dy: Float32Array, out: Float32Array, alpha: number | Float32Array,
    beta: number | Float32Array, channels: number, inner: number, sums: Float64Array): Promise<void>;
  parallelCopy(dst: Float32Array, src: Float32Array): void;
  setNumThreads(n: number): void;
  setIsa(isa: string): string;
  isDetached(x: ArrayBufferView): boolean;
  info(): NativeInfo;
  cuda: NativeCuda;
  tfop: NativeTfop;
}

/** @internal The package root (holds package.json, build/ and prebuilds/). */
export const packageRoot = path.resolve(__dirname, '..');

function load(): NativeAddon {
  const tried: string[] = [];
  const override = process.env.ARELU_NATIVE_PATH;
  if (override) {
    try {
      return require(path.resolve(override)) as NativeAddon;
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('ERR_ARELU_')) throw e;
      tried.push(`ARELU_NATIVE_PATH=${override}: ${(e as Error).message}`);
    }
  }
  let resolved: string | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
    resolved = gypBuild.resolve(packageRoot);
  } catch (e) {
    tried.push(`node-gyp-build in ${packageRoot} (build/Release, prebuilds/${process.platform}-${process.arch}): ${firstLine(e)}`);
  }
  if (resolved) {
    try {
      return require(resolved) as NativeAddon;
    } catch (e) {
      // Errors of the addon's own initialisation (a bad ARELU_CPU_ISA, ...)
      // are the user's to see as they are.
      if ((e as { code?: string }).code?.startsWith('ERR_ARELU_')) throw e;
      tried.push(`${resolved}: ${firstLine(e)}`);
    }
  }
  throw codedError('ERR_ARELU_NO_BINARY', [
    `arelu: could not load the native addon for ${platformName()} (Node ${process.version}).`,
    'Tried:',
    ...tried.map((t) => `  - ${t}`),
    ...buildHelp(),
  ].join('\n'));
}

/** Prebuilt binaries ship for these (glibc >= 2.17 on Linux); anything else builds from source. */
const PREBUILT = ['linux-x64', 'linux-arm64', 'win32-x64'];

/** True on a Linux whose C library is musl (Alpine), not glibc. */
function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return !header?.glibcVersionRuntime;
  } catch {
    return false;
  }
}

function platformName(): string {
  const musl = isMusl();
  return `${process.platform}-${process.arch}${musl ? ' (musl libc)' : ''}`;
}

/** The exact commands that build the addon from source here. */
function buildHelp(): string[] {
  const compile = `cd ${packageRoot} && npx cmake-js@8 compile --out build`;
  const target = `${process.platform}-${process.arch}`;
  const lines: string[] = [];
  if (isMusl()) {
    lines.push('arelu ships no prebuilt binary for musl (Alpine). Build it from source:',
      '  apk add build-base cmake', `  ${compile}`);
  } else if (process.platform === 'darwin') {
    lines.push('arelu ships no prebuilt binary for macOS. Build it from source (Xcode command line tools and CMake):',
      '  xcode-select --install', '  brew install cmake', `  ${compile}`);
  } else if (!PREBUILT.includes(target)) {
    lines.push(`arelu ships no prebuilt binary for ${target} (prebuilt: ${PREBUILT.join(', ')}). Build it from source`,
      '(needs CMake >= 3.18 and a C++17 compiler; CUDA is optional):', `  ${compile}`);
  } else {
    lines.push(`The prebuilt binary for ${target} did not load${process.platform === 'linux' ? ' (it needs glibc 2.17 or newer)' : ''}.`,
      'To fix it, build it from source (needs CMake >= 3.18 and a C++17 compiler; CUDA is optional):', `  ${compile}`);
  }
  lines.push('or let npm run the package\'s install script (it builds from source when no prebuilt binary loads):',
    '  npm install arelu --foreground-scripts --allow-scripts=arelu   (npm 11: or `npm install-scripts approve arelu`)');
  return lines;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0];
}

/** @internal */
export const native: NativeAddon = load();
