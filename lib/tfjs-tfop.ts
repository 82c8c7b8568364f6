/**
 * The tfjs-node (`tensorflow` backend) side of the TensorFlow.js adapter
 * (SPEC §6): which path each backend's AReLU kernels take, and why.
 *
 * - `tf-op`: AReLU and its gradient are TensorFlow ops registered by the addon
 *   in tfjs-node's own TensorFlow runtime (native/tfop, through TF's C API found
 *   at run time), run through the backend like tfjs-node's own kernels: tensor
 *   data stays inside TensorFlow.
 * - `copy`: the kernels read x out of the backend and write y back in (the
 *   `cpu` backend, and the fallback when the TF-op path is unavailable or
 *   turned off with `ARELU_TFJS_TF_OP=0`).
 * @internal
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { native } from './native';

/** Which path a backend's AReLU kernels take, and why. */
export interface TfjsBackendPath {
  /** `other`: the kernel was registered by code other than arelu. */
  path: 'tf-op' | 'copy' | 'other';
  reason: string;
}

/** @internal The kernel functions of one path. */
export interface PathKernels {
  forward: tfc.KernelFunc;
  grad: tfc.KernelFunc;
}

/** @internal The slice of tfjs-node's NodeJSKernelBackend used to run TF ops. */
interface TfBackend {
  executeSingleOutput(name: string, opAttrs: unknown[], inputs: tfc.TensorInfo[]): tfc.TensorInfo;
  executeMultipleOutputs(name: string, opAttrs: unknown[], inputs: tfc.TensorInfo[], numOutputs: number): tfc.TensorInfo[];
}

function tfBackend(backend: unknown): TfBackend {
  const b = backend as Partial<TfBackend> | null;
  if (!b || typeof b.executeSingleOutput !== 'function' || typeof b.executeMultipleOutputs !== 'function')
    throw new TypeError('Expected the tensorflow backend of tfjs-node (executeSingleOutput) for the AReLU kernel');
  return b as TfBackend;
}

/** @internal A float32 input of an AReLU kernel (both paths), or a TypeError. */
export function floatInput(inputs: tfc.NamedTensorInfoMap, name: string): tfc.TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new TypeError(`Expected input '${name}' for the AReLU kernel`);
  if (t.dtype !== 'float32') throw new TypeError(`Expected ${name} of dtype float32 for the AReLU kernel, but received ${t.dtype}`);
  return t;
}

/** The kernels of the `tf-op` path: the addon's TensorFlow ops, run by the backend. */
function tfOpKernels(forwardOp: string, gradOp: string): PathKernels {
  return {
    forward: ({ inputs, backend }) => tfBackend(backend).executeSingleOutput(forwardOp, [],
      [floatInput(inputs, 'x'), floatInput(inputs, 'alpha'), floatInput(inputs, 'beta')]),
    grad: ({ inputs, backend }) => tfBackend(backend).executeMultipleOutputs(gradOp, [],
      [floatInput(inputs, 'x'), floatInput(inputs, 'dy'), floatInput(inputs, 'alpha'), floatInput(inputs, 'beta')], 3),
  };
}

/** Set on the kernel configs registered here, so another call (or copy of the package) can tell the path. */
const PATH_TAG = Symbol.for('arelu.tfjs.path');

/** @internal The path of a kernel config registered by (any copy of) this package. */
export function registeredPath(config: unknown): TfjsBackendPath | undefined {
  return (config as { [PATH_TAG]?: TfjsBackendPath } | undefined)?.[PATH_TAG];
}

/** @internal Tags a kernel config with its path (see registeredPath). */
export function tagPath<T extends object>(config: T, path: TfjsBackendPath): T {
  Object.defineProperty(config, PATH_TAG, { value: path, enumerable: false });
  return config;
}

/** Whether the TF-op path is turned off by the environment (`ARELU_TFJS_TF_OP=0|off|false`). */
function tfOpDisabled(): boolean {
  const v = process.env.ARELU_TFJS_TF_OP;
  return v !== undefined && /^(0|off|false|no)$/i.test(v.trim());
}

/**
 * @internal Chooses the kernels of `backendName`: the TF-op path for tfjs-node's
 * `tensorflow` backend when the addon can register its ops there, else the copy path.
 */
export function chooseKernels(backendName: string, copy: PathKernels): { kernels: PathKernels; path: TfjsBackendPath } {
  const copyPath = (reason: string) => ({ kernels: copy, path: { path: 'copy' as const, reason } });
  if (backendName !== 'tensorflow')
    return copyPath(`the ${backendName} backend: kernels read and write tensor data through the backend (readSync/write)`);
  if (tfOpDisabled())
    return copyPath('TF-op path turned off by ARELU_TFJS_TF_OP; kernels copy tensor data out of TensorFlow and back (readSync/write)');
  const r = native.tfop.register();
  if (!r.ok) return copyPath(`TF-op path unavailable: ${r.reason}; kernels copy tensor data out of TensorFlow and back (readSync/write)`);
  return { kernels: tfOpKernels(native.tfop.forwardOp, native.tfop.gradOp), path: { path: 'tf-op', reason: r.reason } };
}

/** What `arelu info` says about tfjs-node (when it is installed where arelu or the caller can load it). */
export interface TfjsNodeInfo {
  version: string;
  /** The paths registerTfjs chose, per backend; or why tfjs-node did not load. */
  backends?: Record<string, TfjsBackendPath>;
  error?: string;
}

/**
 * @internal For `arelu info`: loads tfjs-node if it is installed (from the
 * current directory or beside arelu) and registers AReLU with it. undefined
 * when tfjs-node is not installed.
 */
export function tfjsNodeInfo(): TfjsNodeInfo | undefined {
  let main: string;
  try {
    main = require.resolve('@tensorflow/tfjs-node', { paths: [process.cwd(), __dirname] });
  } catch {
    return undefined;
  }
  let version = 'unknown';
  try {
    version = (require(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [process.cwd(), __dirname] })) as { version: string }).version;
    if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = '2';  // no TF start-up chatter in `arelu info`
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tf = require(main);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { registerTfjs } = require('./tfjs') as typeof import('./tfjs');
    return { version, backends: registerTfjs(tf).backends };
  } catch (e) {
    return { version, error: String((e as Error)?.message ?? e).split('\n')[0] };
  }
}

/**
 * @internal Copy path: true when `backend.readSync(dataId)` hands out a fresh copy
 * that nothing else holds, so a kernel may compute its output in place there
 * instead of allocating another multi-MB array (whose first touch pays page
 * faults). That is tfjs-node's readSync of a tensor whose data lives in
 * TensorFlow (its JS-side `values` are null). The cpu backend hands out its own
 * storage: never.
 */
export function readsFreshCopy(backend: unknown, dataId: object): boolean {
  const map = (backend as { tensorMap?: { get?(id: object): { values?: unknown } | undefined } } | null)?.tensorMap;
  if (typeof (backend as { executeSingleOutput?: unknown } | null)?.executeSingleOutput !== 'function' || typeof map?.get !== 'function') return false;
  const info = map.get(dataId);
  return info !== undefined && info.values == null;
}
