/**
 * The Keras ports' form of the `AReLU` layer config (SPEC §6; issue 13).
 *
 * The Keras ports of AReLU (e.g. the paper authors' `tfkeras_arelu.py`) keep
 * `alpha` and `beta` as plain Python floats: their config is
 * `{"alpha": 0.9, "beta": 2.0, ...}` and the layer has no weights, so a model
 * saved from Keras and converted for tfjs has none for it. Such a layer is a
 * fixed activation (Keras never trains those floats), and this package loads
 * it as one: the constants are used as they are, and it has no weights, so
 * `model.fit` leaves them alone, as Keras does.
 */

/** The constants of a Keras-form layer, or null for the package's own form. */
export interface KerasConstants {
  alpha: number;
  beta: number;
}

/** Defaults of the Keras ports (the paper's): alpha 0.90, beta 2.0. */
const KERAS_ALPHA = 0.9;
const KERAS_BETA = 2.0;

/**
 * Reads the Keras form from layer args: `alpha` and/or `beta` given (numbers)
 * means a constant layer. Mixing them with the package's own options
 * (`alphaInit`, `betaInit`, `perChannel`) is an error.
 *
 * @returns the constants, or null when neither `alpha` nor `beta` is given
 * @throws {TypeError} when alpha/beta are not numbers, or are mixed with the trainable form's options
 */
export function kerasConstants(args: Record<string, unknown>): KerasConstants | null {
  const { alpha, beta } = args;
  if (alpha === undefined && beta === undefined) return null;
  for (const [name, v] of [['alpha', alpha], ['beta', beta]] as const)
    if (v !== undefined && typeof v !== 'number')
      throw new TypeError(`Expected ${name} (the Keras-port form: a constant) to be a number, but received ${v === null ? 'null' : typeof v}`);
  for (const name of ['alphaInit', 'betaInit', 'perChannel'])
    if (args[name] !== undefined)
      throw new TypeError(`Expected either alpha/beta (the Keras-port form: constants, no weights) or alphaInit/betaInit/perChannel (trainable weights), but received both alpha/beta and ${name}`);
  return { alpha: alpha === undefined ? KERAS_ALPHA : alpha as number, beta: beta === undefined ? KERAS_BETA : beta as number };
}
