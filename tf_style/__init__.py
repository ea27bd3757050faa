"""tf_style: neural style transfer in TensorFlow 2 / Keras 3."""
