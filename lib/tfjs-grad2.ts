/**
 * Second order for the TensorFlow.js adapter (SPEC §1 "Second order", §6): the
 * gradient of the gradient kernel `AReLUGrad`, so that `tf.grad` of `tf.grad`
 * (gradient penalties, Hessian-vector products, meta-learning) works through
 * the op on every backend.
 *
 * `AReLUGrad` maps (dy = g, x, alpha, beta) to
 *
 *     dx     = g * slope(x)             slope = b for x > 0, a for x < 0, 0 at ±0, NaN at NaN
 *     dAlpha = -m * Σ g * relu(-x)      m = 1 if f32(0.01) <= alpha <= f32(0.99), else 0
 *     dBeta  =  s' * Σ g * relu(x)      s = sigmoid(beta), s' = s(1 - s), b = 1 + s
 *
 * (sums per channel of the last axis for [C] parameters). Given upstream
 * gradients (u, uA, uB) for (dx, dAlpha, dBeta), its exact derivatives are
 *
 *     d/dg     = u * slope(x) + uB*s' * relu(x) - uA*m * relu(-x)
 *     d/dx     = g * (uB*s' * [x > 0] + uA*m * [x < 0])      (the dx output has zero curvature in x a.e.)
 *     d/dalpha = m * Σ u * g * [x < 0]
 *     d/dbeta  = s' * Σ u * g * [x > 0] + uB * s'(1 - 2s) * Σ g * relu(x)
 *
 * These are written in tfjs ops plus the `AReLUGrad` kernel itself (for
 * u * slope(x), which carries the kernel's NaN rules): they run on any backend
 * that has the kernel and are differentiable again (third order). [x > 0] is
 * `tf.step(x)` and [x < 0] is `tf.step(-x)`, which are NaN where x is NaN, so a
 * NaN in x reaches every output it feeds, as in the first order. The sums are
 * float32 tfjs reductions, as in autograd through the composite.
 */
import type * as tfc from '@tensorflow/tfjs-core';

type Tensor = tfc.Tensor;

/**
 * Sums `t` (broadcast to the shape of x, parameters on its last axis) down to a
 * parameter's shape: [C] with C > 1 sums over every axis but the last, [] and [1]
 * over all.
 */
function reduceTo(tf: typeof tfc, t: Tensor, shape: readonly number[]): Tensor {
  const c = shape.length === 1 ? shape[0] : 1;
  if (c > 1) return tf.sum(tf.reshape(t, [-1, c]), 0);
  return tf.reshape(tf.sum(t), shape.slice());
}

/**
 * Registers the gradient of the `gradKernelName` kernel (inputs dy, x, alpha,
 * beta; outputs dx, dAlpha, dBeta shaped like x, alpha, beta). Does nothing if
 * one is registered already.
 *
 * @param tf the caller's tfjs module
 * @param gradKernelName the name of the first-order gradient kernel (`AReLUGrad`)
 */
export function registerGradOfGrad(tf: typeof tfc, gradKernelName: string): void {
  if (tf.getGradient(gradKernelName)) return;
  tf.registerGradient({
    kernelName: gradKernelName,
    inputsToSave: ['dy', 'x', 'alpha', 'beta'],
    gradFunc: (dys, saved) => {
      const [g, x, alpha, beta] = saved;
      // The engine hands zeros for outputs the loss does not use.
      const [u, uA, uB] = dys as Tensor[];
      // Parameter-shaped pieces; each lazy gradient below runs inside the tape's tidy.
      // 1 inside [f32(0.01), f32(0.99)], 0 outside and for NaN. (Two greaterEqual,
      // not logicalAnd or lessEqual, which have no gradient in tfjs: so third order
      // can reach alpha.)
      const window = () => tf.mul(tf.cast(tf.greaterEqual(alpha, 0.01), 'float32'), tf.cast(tf.greaterEqual(0.99, alpha), 'float32'));
      const sig = () => tf.sigmoid(beta);
      const sigPrime = (s: Tensor) => tf.mul(s, tf.sub(1, s));
      const pos = () => tf.step(x);
      const neg = () => tf.step(tf.neg(x));
      return {
        dy: () => {
          const s = sig();
          const [uSlope] = tf.engine().runKernel(gradKernelName, { dy: u, x, alpha, beta }) as Tensor[];
          const pw = tf.mul(tf.mul(uB, sigPrime(s)), tf.relu(x));
          const nw = tf.mul(tf.mul(uA, window()), tf.relu(tf.neg(x)));
          return tf.reshape(tf.sub(tf.add(uSlope, pw), nw), g.shape);
        },
        x: () => {
          const s = sig();
          const w = tf.add(tf.mul(tf.mul(uB, sigPrime(s)), pos()), tf.mul(tf.mul(uA, window()), neg()));
          return tf.reshape(tf.mul(g, w), x.shape);
        },
        alpha: () => tf.mul(window(), reduceTo(tf, tf.mul(tf.mul(u, g), neg()), alpha.shape)),
        beta: () => {
          const s = sig();
          const sp = sigPrime(s);
          const fromDx = tf.mul(sp, reduceTo(tf, tf.mul(tf.mul(u, g), pos()), beta.shape));
          const fromDBeta = tf.mul(tf.mul(uB, tf.mul(sp, tf.sub(1, tf.mul(2, s)))), reduceTo(tf, tf.mul(g, tf.relu(x)), beta.shape));
          return tf.add(fromDx, fromDBeta);
        },
      };
    },
  });
}
