'use strict';
// AReLU written in tfjs ops, as a user would without this package: the
// baseline of bench/tfjs-bench.js and bench/demo.js.

/** relu(x) * (1 + sigmoid(beta)) - relu(-x) * clip(alpha, 0.01, 0.99), in tfjs ops. */
function compositeArelu(tf, x, alpha, beta) {
  return tf.sub(tf.mul(tf.relu(x), tf.add(1, tf.sigmoid(beta))),
    tf.mul(tf.relu(tf.neg(x)), tf.clipByValue(alpha, 0.01, 0.99)));
}

/** A layer class with trainable alpha (0.90) and beta (2.0) that computes compositeArelu. */
function compositeAReLULayer(tf) {
  return class CompositeAReLU extends tf.layers.Layer {
    static className = 'CompositeAReLU';
    build() {
      this.alpha = this.addWeight('alpha', [1], 'float32', tf.initializers.constant({ value: 0.9 }));
      this.beta = this.addWeight('beta', [1], 'float32', tf.initializers.constant({ value: 2.0 }));
      this.built = true;
    }
    computeOutputShape(s) { return s; }
    call(inputs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.tidy(() => compositeArelu(tf, x, this.alpha.read(), this.beta.read()));
    }
  };
}

module.exports = { compositeArelu, compositeAReLULayer };
