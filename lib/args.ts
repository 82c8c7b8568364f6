/**
 * Argument validation and normalisation shared by the CPU and CUDA paths:
 * parameters, shape/channelAxis -> (channels, inner). Everything is checked
 * here, before any native call, so nothing is written on a bad call.
 * @internal
 */
import { native } from './native';
import { rangeError, typeError } from './errors';

/** Parameters of one layer (numbers) or one per channel (arrays). */
export interface Params {
  /** Negative-side slope, clamped to [0.01, 0.99]. Default 0.90. */
  alpha?: number | ArrayLike<number>;
  /** Positive-side gain is 1 + sigmoid(beta). Default 2.0. */
  beta?: number | ArrayLike<number>;
}

/** Layout options: per-channel parameters need `shape` and `channelAxis`. */
export interface LayoutOptions {
  /** Dimensions of x; their product must equal x.length. */
  shape?: readonly number[];
  /** Axis of `shape` holding the channels (negative counts from the end). */
  channelAxis?: number;
}

/** @internal */
export interface Resolved {
  channels: number;
  inner: number;
  perChannel: boolean;
  alpha: number | Float32Array;
  beta: number | Float32Array;
}

const DEFAULTS = { alpha: 0.9, beta: 2.0 } as const;

/** @internal x.length of 0 can mean a detached buffer: ask the addon. */
export function checkHostArray(value: unknown, name: string, allowDevice: boolean): Float32Array {
  if (!(value instanceof Float32Array))
    throw typeError(allowDevice ? 'Float32Array or DeviceBuffer' : 'Float32Array', name, value);
  if (value.length === 0 && native.isDetached(value))
    throw new TypeError(`Expected ${name} to be backed by a live ArrayBuffer, but it is detached`);
  return value;
}

function checkInteger(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError('integer', name, value);
  if (!Number.isInteger(value)) throw rangeError('integer', name, String(value));
  return value;
}

/** @internal Per-call options object (or undefined). */
export function checkOptions<T extends object>(opts: unknown): T {
  if (opts === undefined) return {} as T;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw typeError('object', 'opts', opts);
  return opts as T;
}

function checkParamValue(value: unknown, name: string, channels: number, perChannel: boolean):
  number | Float32Array {
  if (typeof value === 'number') return value;
  if (value instanceof Float32Array || value instanceof Float64Array || Array.isArray(value)) {
    if (!perChannel)
      throw typeError('number (arrays need opts.shape and opts.channelAxis)', name, value);
    if (value.length !== channels)
      throw rangeError(`${channels} values (one per channel)`, name, `${value.length}`);
    if (value instanceof Float32Array) return value;
    if (Array.isArray(value))
      for (let i = 0; i < value.length; i++)
        if (typeof value[i] !== 'number') throw typeError('number', `${name}[${i}]`, value[i]);
    return Float32Array.from(value as ArrayLike<number>);
  }
  throw typeError(perChannel ? 'number or array of numbers' : 'number', name, value);
}

/** @internal Shape, channel axis and parameters of one call. */
export function resolve(length: number, params: unknown, opts: LayoutOptions): Resolved {
  if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params)))
    throw typeError('object { alpha?, beta? }', 'params', params);
  const p = (params ?? {}) as Params;
  let channels = 1;
  let inner = 1;
  let perChannel = false;
  const { shape, channelAxis } = opts;
  if (shape !== undefined) {
    if (!Array.isArray(shape)) throw typeError('array of non-negative integers', 'opts.shape', shape);
    let product = 1;
    for (let i = 0; i < shape.length; i++) {
      const d = shape[i];
      if (typeof d !== 'number') throw typeError('non-negative integer', `opts.shape[${i}]`, d);
      if (!Number.isInteger(d) || d < 0) throw rangeError('non-negative integer', `opts.shape[${i}]`, String(d));
      product *= d;
    }
    if (product !== length)
      throw rangeError(`a shape whose product is x.length (${length})`, 'opts.shape', `[${shape.join(', ')}] (product ${product})`);
  }
  if (channelAxis !== undefined) {
    if (shape === undefined) throw typeError('opts.shape together with opts.channelAxis', 'opts.shape', shape);
    const rank = shape.length;
    const axis = checkInteger(channelAxis, 'opts.channelAxis');
    if (axis < -rank || axis >= rank)
      throw rangeError(`an axis in [${-rank}, ${rank - 1}]`, 'opts.channelAxis', String(axis));
    const a = axis < 0 ? axis + rank : axis;
    channels = shape[a];
    for (let i = a + 1; i < rank; i++) inner *= shape[i];
    perChannel = true;
  }
  const alpha = checkParamValue(p.alpha === undefined ? DEFAULTS.alpha : p.alpha, 'params.alpha', channels, perChannel);
  const beta = checkParamValue(p.beta === undefined ? DEFAULTS.beta : p.beta, 'params.beta', channels, perChannel);
  return { channels, inner: Math.max(inner, 1), perChannel, alpha, beta };
}

/** @internal `out` must be exactly `input` (in-place) or not overlap it. */
export function checkNoPartialOverlap(out: Float32Array, input: Float32Array, inName: string): void {
  if (out === input || out.buffer !== input.buffer) return;
  const o0 = out.byteOffset, o1 = o0 + out.byteLength;
  const i0 = input.byteOffset, i1 = i0 + input.byteLength;
  if (o0 === i0 && o1 === i1) return;
  if (o0 < i1 && i0 < o1)
    throw new RangeError(`Expected opts.out to be exactly ${inName} (in-place) or not to overlap it, but it partially overlaps ${inName}`);
}

/** @internal A positive integer thread count. */
export function checkThreadCount(n: unknown): number {
  if (typeof n !== 'number') throw typeError('positive integer', 'threads', n);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw rangeError('positive integer (at most 1024)', 'threads', String(n));
  return n;
}
