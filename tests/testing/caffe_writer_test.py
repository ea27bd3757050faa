"""Tests for tf_style.testing.caffe_writer: the synthetic models' seeds."""

import numpy as np

from tf_style.testing import caffe_writer


def test_synthetic_vgg_biases_are_seeded_apart_from_the_weights():
    def convs(**kwargs):
        layers = caffe_writer.vgg_layers(widths=(64, 8, 8, 8, 8), fc=None, seed=2, **kwargs)
        return [layer["blobs"] for layer in layers if layer["type"] == "Convolution"]

    plain, biased = convs(), convs(conv_bias=0.5)
    for (w0, b0), (w1, b1) in zip(plain, biased, strict=True):
        np.testing.assert_array_equal(w1, w0)
        assert b0.dtype == b1.dtype == np.float32 and not b0.any()
    first = biased[0][1]  # 64 draws of N(0.5, 0.25)
    assert abs(first.mean() - 0.5) < 0.25 and 0.25 < first.std() < 0.75
    assert len({b.tobytes() for _, b in biased}) == len(biased)
