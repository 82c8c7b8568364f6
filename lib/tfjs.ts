/**
 * TensorFlow.js adapter (SPEC §6): kernels `AReLU` and `AReLUGrad` for the
 * `cpu` and `tensorflow` backends, the gradient, the op and a serializable
 * `AReLU` layer. tfjs is a peer dependency: this file never loads it; the
 * caller hands in the module it uses (`@tensorflow/tfjs` or `@tensorflow/tfjs-node`).
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as core from './index';
import { registerGradOfGrad } from './tfjs-grad2';
import { kerasConstants } from './tfjs-keras';
import { chooseKernels, floatInput as input, readsFreshCopy, registeredPath, tagPath, TfjsBackendPath } from './tfjs-tfop';

export { TfjsBackendPath } from './tfjs-tfop';

/** The parts of a tfjs module (`@tensorflow/tfjs`, `@tensorflow/tfjs-node`) that are used. */
export type Tfjs = typeof tfc & {
  layers: typeof tfl.layers;
  initializers: typeof tfl.initializers;
};

type Tensor = tfc.Tensor;
type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Shape = (number | null)[];

/** Options of the `AReLU` layer. */
export interface AReLULayerArgs extends LayerArgs {
  /** Initial alpha (negative-side slope before clamping to [0.01, 0.99]). Default 0.90. */
  alphaInit?: number;
  /** Initial beta (positive side gain is 1 + sigmoid(beta)). Default 2.0. */
  betaInit?: number;
  /** One alpha/beta pair per channel of the last axis (channels-last). Default false. */
  perChannel?: boolean;
  /**
   * Keras-port form (lib/tfjs-keras.ts): alpha and/or beta as constants. The layer
   * then has no weights and is not trained. Not combinable with the options above.
   */
  alpha?: number;
  /** Keras-port form: the constant beta (default 2.0 when only alpha is given). */
  beta?: number;
}

/** An `AReLU` layer instance: a tfjs Layer with trainable `alpha` and `beta` weights. */
export interface AReLULayer extends tfl.layers.Layer {
  readonly alphaInit: number;
  readonly betaInit: number;
  readonly perChannel: boolean;
  /** The constants of a layer in the Keras-port form (no weights), else null. */
  readonly constants: { alpha: number; beta: number } | null;
}

/** The `AReLU` layer class (registered with `tf.serialization.registerClass`). */
export interface AReLULayerClass {
  new (args?: AReLULayerArgs): AReLULayer;
  readonly className: string;
}

/** What `registerTfjs` returns. */
export interface TfjsAReLU {
  /**
   * AReLU of x. alpha and beta: tensors (or variables) of shape [] or [1], or [C]
   * with C the size of x's last axis; numbers are taken as scalars. Differentiable
   * in x, alpha and beta. On a backend without the native kernel (webgl, wasm...)
   * the same function is computed with tfjs ops.
   */
  arelu(x: Tensor, alpha?: Tensor | number, beta?: Tensor | number): Tensor;
  AReLU: AReLULayerClass;
  /**
   * For each supported backend that is present (`cpu`, `tensorflow`): which path
   * its kernels take (`tf-op`: TensorFlow ops inside tfjs-node's runtime, no copies;
   * `copy`: data read out of the backend and written back) and why.
   */
  backends: Record<string, TfjsBackendPath>;
}

/** Kernel names registered with tfjs. */
export const KERNEL_NAME = 'AReLU';
export const GRAD_KERNEL_NAME = 'AReLUGrad';
/** Backends whose kernels are registered (when the backend is present). */
export const SUPPORTED_BACKENDS: readonly string[] = ['cpu', 'tensorflow'];

const DEFAULT_ALPHA = 0.9;
const DEFAULT_BETA = 2.0;

/** The slice of tfjs' KernelBackend used: both the cpu and tensorflow backends have it. */
interface BackendIO {
  readSync(dataId: object): unknown;
  write(values: Float32Array, shape: number[], dtype: 'float32'): object;
}

function checkBackend(backend: unknown): BackendIO {
  const b = backend as Partial<BackendIO> | null;
  if (!b || typeof b.readSync !== 'function' || typeof b.write !== 'function')
    throw new TypeError('Expected a tfjs backend with readSync() and write() for the AReLU kernel');
  return b as BackendIO;
}

function read(backend: BackendIO, t: tfc.TensorInfo): Float32Array {
  const v = backend.readSync(t.dataId);
  // The cpu backend hands out its own storage: it is only read here, never written.
  return v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
}

function output(backend: BackendIO, values: Float32Array, shape: number[]): tfc.TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Parameters as the core API wants them: numbers, or arrays over the last axis of x. */
function coreParams(alpha: Float32Array, beta: Float32Array, xShape: readonly number[]):
  { params: core.Params; opts: core.LayoutOptions; channels: number } {
  if (alpha.length === 1 && beta.length === 1) return { params: { alpha: alpha[0], beta: beta[0] }, opts: {}, channels: 1 };
  const c = Math.max(alpha.length, beta.length);
  const spread = (v: Float32Array) => (v.length === c ? v : new Float32Array(c).fill(v[0]));
  const n = size(xShape) / c;
  return { params: { alpha: spread(alpha), beta: spread(beta) }, opts: { shape: [n, c], channelAxis: 1 }, channels: c };
}

const areluKernel: tfc.KernelFunc = ({ inputs, backend }) => {
  const io = checkBackend(backend);
  const x = input(inputs, 'x');
  const alpha = read(io, input(inputs, 'alpha'));
  const beta = read(io, input(inputs, 'beta'));
  const { params, opts } = coreParams(alpha, beta, x.shape);
  const xs = read(io, x);
  // A fresh copy of x (tfjs-node) is overwritten in place: no second fresh array.
  const y = core.forward(xs, params, readsFreshCopy(backend, x.dataId) ? { ...opts, out: xs } : opts);
  return output(io, y, x.shape.slice());
};

/** Reduces per-channel float64 sums to a parameter of `len` (1 or C) values. */
function paramGrad(g: number | Float64Array, len: number): Float32Array {
  if (typeof g === 'number') return new Float32Array([g]);
  if (g.length === len) return Float32Array.from(g);
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i];
  return new Float32Array([s]);
}

const areluGradKernel: tfc.KernelFunc = ({ inputs, backend }) => {
  const io = checkBackend(backend);
  const x = input(inputs, 'x');
  const dy = input(inputs, 'dy');
  const a = input(inputs, 'alpha');
  const b = input(inputs, 'beta');
  const alpha = read(io, a);
  const beta = read(io, b);
  const { params, opts } = coreParams(alpha, beta, x.shape);
  const xs = read(io, x);
  const { dx, dAlpha, dBeta } = core.backward(xs, read(io, dy), params, readsFreshCopy(backend, x.dataId) ? { ...opts, out: xs } : opts);
  return [
    output(io, dx, x.shape.slice()),
    output(io, paramGrad(dAlpha, alpha.length), a.shape.slice()),
    output(io, paramGrad(dBeta, beta.length), b.shape.slice()),
  ];
};

const registered = new WeakMap<object, TfjsAReLU>();

/** Registers the kernels of each supported backend present and not yet in `backends`, noting its path there. */
function registerKernels(tf: Tfjs, backends: Record<string, TfjsBackendPath>): void {
  for (const backendName of SUPPORTED_BACKENDS) {
    if (backends[backendName] || tf.findBackendFactory(backendName) == null) continue;
    const existing = tf.getKernel(KERNEL_NAME, backendName);
    if (existing) {
      // Registered before (by another handle on this tfjs, or another copy of arelu).
      backends[backendName] = registeredPath(existing) ?? { path: 'other', reason: `kernel ${KERNEL_NAME} was already registered for ${backendName} by other code` };
      continue;
    }
    const { kernels, path } = chooseKernels(backendName, { forward: areluKernel, grad: areluGradKernel });
    tf.registerKernel(tagPath({ kernelName: KERNEL_NAME, backendName, kernelFunc: kernels.forward }, path));
    if (!tf.getKernel(GRAD_KERNEL_NAME, backendName)) tf.registerKernel(tagPath({ kernelName: GRAD_KERNEL_NAME, backendName, kernelFunc: kernels.grad }, path));
    backends[backendName] = path;
  }
}

/**
 * Registers the AReLU kernels (for the `cpu` and `tensorflow` backends that are
 * present), their gradient and the `AReLU` layer class with the given tfjs module.
 * Calling it again (with the same or another handle on the same tfjs) is harmless.
 *
 * @param tf the caller's tfjs module: `require('@tensorflow/tfjs-node')` or `require('@tensorflow/tfjs')`
 * @returns `{ arelu, AReLU, backends }`: the op, the layer class, and per backend the path its kernels take and why
 * @throws {TypeError} when `tf` is not a tfjs module
 * @example
 * const tf = require('@tensorflow/tfjs-node');
 * const { arelu, AReLU } = require('arelu/tfjs').registerTfjs(tf);
 * const y = arelu(tf.tensor([-1, 2]), tf.scalar(0.9), tf.scalar(2));
 * model.add(new AReLU({ perChannel: true }));
 */
export function registerTfjs(tf: Tfjs): TfjsAReLU {
  if (tf === null || typeof tf !== 'object' && typeof tf !== 'function' ||
      typeof tf.registerKernel !== 'function' || typeof tf.engine !== 'function' ||
      typeof tf.layers?.Layer !== 'function' || typeof tf.serialization?.registerClass !== 'function')
    throw new TypeError('Expected tf to be a TensorFlow.js module (require(\'@tensorflow/tfjs\') or require(\'@tensorflow/tfjs-node\'))');
  const done = registered.get(tf);
  if (done) {
    registerKernels(tf, done.backends);  // a backend may have appeared since (tfjs-node loaded later)
    return done;
  }
  const backends: Record<string, TfjsBackendPath> = {};
  registerKernels(tf, backends);
  if (!tf.getGradient(KERNEL_NAME)) {
    tf.registerGradient({
      kernelName: KERNEL_NAME,
      inputsToSave: ['x', 'alpha', 'beta'],
      gradFunc: (dy, saved) => {
        const [x, alpha, beta] = saved;
        // One fused backward pass gives all three; whatever is not asked for is
        // disposed by the engine's backward tidy.
        const [dx, dAlpha, dBeta] = tf.engine().runKernel(GRAD_KERNEL_NAME, { dy: dy as Tensor, x, alpha, beta }) as Tensor[];
        return { x: () => dx, alpha: () => dAlpha, beta: () => dBeta };
      },
    });
  }
  registerGradOfGrad(tf, GRAD_KERNEL_NAME); // second order (lib/tfjs-grad2.ts)

  function param(p: Tensor | number | undefined, dflt: number, name: string, channels: number): Tensor {
    const t = p === undefined ? tf.scalar(dflt) : typeof p === 'number' ? tf.scalar(p) : p;
    if (!(t instanceof tf.Tensor)) throw new TypeError(`Expected ${name} to be a tf.Tensor or a number, but received ${typeof p}`);
    if (t.isDisposed) throw new TypeError(`Expected ${name} to be a tf.Tensor that is not disposed`);
    const n = t.size;
    if (!(t.rank === 0 || (t.rank === 1 && (n === 1 || n === channels))))
      throw new RangeError(`Expected ${name} of shape [], [1] or [${channels}] (the last axis of x), but received [${t.shape.join(', ')}]`);
    return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
  }

  function composite(x: Tensor, a: Tensor, b: Tensor): Tensor {
    const gain = tf.add(1, tf.sigmoid(b));
    return tf.sub(tf.mul(tf.relu(x), gain), tf.mul(tf.relu(tf.neg(x)), tf.clipByValue(a, 0.01, 0.99)));
  }

  function arelu(x: Tensor, alpha?: Tensor | number, beta?: Tensor | number): Tensor {
    if (!(x instanceof tf.Tensor)) throw new TypeError(`Expected x to be a tf.Tensor, but received ${typeof x}`);
    if (x.isDisposed) throw new TypeError('Expected x to be a tf.Tensor that is not disposed');
    const channels = x.rank === 0 ? 1 : x.shape[x.rank - 1];
    return tf.tidy(() => {
      const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
      const a = param(alpha, DEFAULT_ALPHA, 'alpha', channels);
      const b = param(beta, DEFAULT_BETA, 'beta', channels);
      if (!tf.getKernel(KERNEL_NAME, tf.getBackend())) return composite(xf, a, b);
      return tf.engine().runKernel(KERNEL_NAME, { x: xf, alpha: a, beta: b }) as Tensor;
    });
  }

  class AReLU extends tf.layers.Layer implements AReLULayer {
    static readonly className = 'AReLU';
    readonly alphaInit: number;
    readonly betaInit: number;
    readonly perChannel: boolean;
    readonly constants: { alpha: number; beta: number } | null;
    private alpha: tfl.LayerVariable | null = null;
    private beta: tfl.LayerVariable | null = null;

    constructor(args: AReLULayerArgs = {}) {
      super(args);
      this.constants = kerasConstants(args as Record<string, unknown>);
      const { alphaInit = DEFAULT_ALPHA, betaInit = DEFAULT_BETA, perChannel = false } = args;
      if (typeof alphaInit !== 'number') throw new TypeError(`Expected alphaInit to be a number, but received ${typeof alphaInit}`);
      if (typeof betaInit !== 'number') throw new TypeError(`Expected betaInit to be a number, but received ${typeof betaInit}`);
      if (typeof perChannel !== 'boolean') throw new TypeError(`Expected perChannel to be a boolean, but received ${typeof perChannel}`);
      this.alphaInit = alphaInit;
      this.betaInit = betaInit;
      this.perChannel = perChannel;
      this.supportsMasking = true;
    }

    override build(inputShape: Shape | Shape[]): void {
      if (this.constants) { this.built = true; return; } // Keras-port form: no weights
      const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
      let wShape = [1];
      if (this.perChannel) {
        const c = shape[shape.length - 1];
        if (typeof c !== 'number' || c <= 0)
          throw new RangeError(`Expected a known last (channel) axis for a per-channel AReLU, but the input shape is [${shape.join(', ')}]`);
        wShape = [c];
      }
      this.alpha = this.addWeight('alpha', wShape, 'float32', tf.initializers.constant({ value: this.alphaInit }), undefined, true);
      this.beta = this.addWeight('beta', wShape, 'float32', tf.initializers.constant({ value: this.betaInit }), undefined, true);
      this.built = true;
    }

    override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
      return inputShape;
    }

    override call(inputs: Tensor | Tensor[]): Tensor {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (this.constants) return arelu(x, this.constants.alpha, this.constants.beta);
      if (!this.alpha || !this.beta) throw new Error('AReLU layer called before it was built');
      return arelu(x, this.alpha.read(), this.beta.read());
    }

    override getConfig(): tfc.serialization.ConfigDict {
      if (this.constants) return { ...super.getConfig(), alpha: this.constants.alpha, beta: this.constants.beta };
      return { ...super.getConfig(), alphaInit: this.alphaInit, betaInit: this.betaInit, perChannel: this.perChannel };
    }
  }
  tf.serialization.registerClass(AReLU);

  const result: TfjsAReLU = { arelu, AReLU, backends };
  registered.set(tf, result);
  return result;
}
