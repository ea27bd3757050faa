"""The truncated extractor: layer lookup, the original's cut, and the max-to-avg pooling swap."""

import numpy as np
import pytest

from tf_style import caffe, models
from tf_style.features import LayerError, build_extractor, minimum_input_size, network_layers

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@pytest.fixture(scope="module")
def model(tiny_vgg):
    return caffe.load_model(*tiny_vgg)


def test_cut_after_the_last_loss_layer(model):
    ex = build_extractor(model, ["relu2_1"], ["relu1_1"])
    names = [layer.name for layer in network_layers(ex.model)]
    assert names == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1", "relu2_1"]
    assert ex.names == ("relu1_1", "relu2_1")
    # loadcaffe numbers the modules from 1: relu1_1 is 2, relu2_1 is 7
    # (docs/semantics.md#model-layer-numbers).
    assert ex.indices == (2, 7)
    assert ex.content == (1,) and ex.style == (0,)


def test_default_layers_give_the_originals_indices(model):
    ex = build_extractor(
        model, ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    )
    assert ex.indices == (2, 7, 12, 21, 23, 30)
    assert network_layers(ex.model)[-1].name == "relu5_1"


def test_any_order_and_shared_layers(model):
    ex = build_extractor(model, ["relu3_1", "relu1_1"], ["relu3_1", "relu2_1"])
    assert ex.names == ("relu1_1", "relu2_1", "relu3_1")
    assert ex.content == (0, 2) and ex.style == (1, 2)


def test_unknown_layer_names_its_flag_and_the_close_names(model):
    with pytest.raises(LayerError) as info:
        build_extractor(model, ["relu4_2"], ["relu1_1", "relu4_9"])
    message = str(info.value)
    assert message.startswith("-style_layers: the model has no layer 'relu4_9'; did you mean ")
    suggested = message.split("did you mean ")[1].rstrip("?").split(" or ")
    assert 1 <= len(suggested) <= 4 and "relu4_1" in suggested
    assert "conv1_1" not in message and "\n" not in message
    # A name like none of them: the range of names, not all 37 of them.
    with pytest.raises(LayerError, match=r"-content_layers: .*'fc9'; its \d+ layers run from "):
        build_extractor(model, ["fc9"], [])


def test_a_layer_without_a_spatial_map_is_refused(tmp_path):
    from tf_style import caffe
    from tf_style.testing import caffe_writer

    proto, weights = tmp_path / "fc.prototxt", tmp_path / "fc.caffemodel"
    caffe_writer.write_vgg(weights, widths=(4, 4, 4, 4, 4), fc=(8, 8, 5), prototxt_path=proto)
    with_fc = caffe.load_model(proto, weights)
    for kind, content, style in (("content", ["fc6"], []), ("style", [], ["relu1_1", "prob"])):
        with pytest.raises(LayerError, match=f"-{kind}_layers: .* not a spatial map.*pool5"):
            build_extractor(with_fc, content, style)


def test_same_activations_as_the_full_model(model):
    x = np.random.default_rng(0).normal(0, 50, (1, 23, 31, 3)).astype(np.float32)
    ex = build_extractor(model, ["conv3_1"], ["relu2_1"])
    probe = caffe_probe(model, ["relu2_1", "conv3_1"])
    for got, want in zip(ex.model(x), probe(x)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def caffe_probe(model, names):
    import keras

    return keras.Model(model.input, [model.get_layer(n).output for n in names])


def test_average_pooling_swap(model):
    x = np.random.default_rng(1).normal(0, 50, (1, 23, 31, 3)).astype(np.float32)
    max_ex = build_extractor(model, [], ["relu2_1", "pool2"])
    avg_ex = build_extractor(model, [], ["relu2_1", "pool2"], pooling="avg")
    assert max_ex.replaced_pools == ()
    assert avg_ex.replaced_pools == (5, 10)  # pool1 and pool2, loadcaffe's numbering
    relu1_2 = np.asarray(caffe_probe(model, ["relu1_2"])(x))
    # The original's replacement: average pooling 2x2 stride 2, floor rounding, no padding.
    h, w = relu1_2.shape[1] // 2, relu1_2.shape[2] // 2
    want = relu1_2[:, : 2 * h, : 2 * w].reshape(1, h, 2, w, 2, -1).mean(axis=(2, 4))
    pooled = caffe_probe(avg_ex.model, ["pool1"])(x)
    np.testing.assert_allclose(np.asarray(pooled), want, rtol=1e-5, atol=1e-5)
    # Max pooling rounds up (23 -> 12), the replacement rounds down (23 -> 11).
    assert max_ex.model(x)[1].shape[1:3] == (6, 8)
    assert avg_ex.model(x)[1].shape[1:3] == (5, 7)
    # The swapped model shares the convolution weights instead of copying them.
    assert avg_ex.model.get_layer("conv1_1") is model.get_layer("conv1_1")


def test_minimum_size_from_the_pooling(tiny_vgg):
    proto, model_file = tiny_vgg
    model, _ = models.load(str(model_file), str(proto))

    def floor_pools(size, pools):
        for _ in range(pools):
            size //= 2
        return size

    # Max pooling rounds up (Caffe): any size keeps at least 1x1. Average pooling rounds down;
    # relu5_1 sits after 4 pools and 3x3 convolutions with padding 1.
    want_avg = min(s for s in range(1, 100) if floor_pools(s, 4) >= 1)
    for pooling, want in (("max", 1), ("avg", want_avg)):
        extractor = build_extractor(model, ("relu4_2",), STYLE_LAYERS, pooling)
        assert minimum_input_size(extractor) == (want, want)
    extractor = build_extractor(model, (), ("relu1_1", "relu3_1"), "avg")
    assert minimum_input_size(extractor) == (4, 4)  # two pools: floor(floor(s/2)/2) >= 1
