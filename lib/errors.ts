/**
 * One shape for every argument error, after sharp's: "Expected <what> for
 * <name> but received <value>". TypeError for a wrong type, RangeError for a
 * wrong value; coded errors for the runtime conditions of SPEC §4.
 */

/** Error codes set on the `code` property of arelu's runtime errors. */
export type AreluErrorCode =
  | 'ERR_ARELU_NO_CUDA'
  | 'ERR_ARELU_CUDA'
  | 'ERR_ARELU_FREED'
  | 'ERR_ARELU_ISA'
  | 'ERR_ARELU_THREADS'
  | 'ERR_ARELU_SPIN'
  | 'ERR_ARELU_NO_BINARY';

/** An Error with a `code` (and, for CUDA, a `reason`). */
export interface AreluError extends Error {
  code: AreluErrorCode;
  reason?: string;
}

/** @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'string':
      return `'${value.length > 40 ? value.slice(0, 40) + '...' : value}' of type string`;
    case 'bigint':
      return `${value}n of type bigint`;
    case 'number':
    case 'boolean':
      return `${value} of type ${typeof value}`;
    case 'function':
      return 'a function';
    default: {
      const ctor = (value as object).constructor;
      const name = ctor && typeof ctor.name === 'string' ? ctor.name : 'Object';
      if (ArrayBuffer.isView(value) && 'length' in value)
        return `${name} of length ${(value as unknown as ArrayLike<unknown>).length}`;
      if (Array.isArray(value)) return `Array of length ${value.length}`;
      return `${name}`;
    }
  }
}

/** @internal */
export function typeError(expected: string, name: string, value: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(value)}`);
}

/** @internal */
export function rangeError(expected: string, name: string, received: string): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${received}`);
}

/** @internal */
export function codedError(code: AreluErrorCode, message: string, reason?: string): AreluError {
  const e = new Error(message) as AreluError;
  e.code = code;
  if (reason !== undefined) e.reason = reason;
  return e;
}
