"""Training a checkpoint: the tf.data input pipeline, tf.distribute strategies, precise BatchNorm."""
