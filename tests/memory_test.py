"""The memory estimate: monotone in its inputs, the fit check's message, and a measured peak."""

import json

import pytest

from tf_style import caffe, memory, stylizer
from tf_style.features import build_extractor
from tf_style.testing import caffe_writer, processes

CONTENT = ["relu4_2"]
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


@pytest.fixture(scope="module")
def extractor(tiny_vgg):
    return build_extractor(caffe.load_model(*tiny_vgg), CONTENT, STYLE)


def test_estimate_grows_with_size_and_history(extractor):
    def estimate(side, **kwargs):
        return memory.estimate_peak_bytes(extractor, side, side, **kwargs)

    sizes = [estimate(side) for side in (64, 128, 256, 512)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    assert estimate(128, num_correction=5) < estimate(128, num_correction=10) < estimate(128)
    assert estimate(128, optimizer="adam") < estimate(128, num_correction=5)
    assert estimate(128, optimizer="tfp_lbfgs") > estimate(128)
    # 2 * m image-sized float32 buffers: m = 100 against m = 10 at 128 px.
    assert estimate(128) - estimate(128, num_correction=10) == 2 * 90 * 3 * 128 * 128 * 4
    assert estimate(512, precision="bfloat16") < estimate(512)


def test_two_tiles_at_a_time_hold_two_tiles_activations(extractor):
    crop = (96, 96)
    one = memory.estimate_peak_bytes(extractor, 512, 512, tile=crop)
    two = memory.estimate_peak_bytes(extractor, 512, 512, tile=crop, tiles_together=2)
    # The runtime and the weights once, the activations (with their factor) twice.
    activations = memory.activation_bytes(extractor, *crop) * memory.PLAIN_ACTIVATION_FACTOR
    assert two - one == int(activations)
    # Untiled, the whole image is one evaluation whatever the count.
    whole = memory.estimate_peak_bytes(extractor, 512, 512)
    assert memory.estimate_peak_bytes(extractor, 512, 512, tiles_together=2) == whole


def test_activation_peak_by_hand(tiny_vgg):
    # The tiny VGG (widths 4, 8, ...) peaks in the backward of relu1_2 (64 px, 4 channels), per
    # pixel: relu1_1 and relu1_2 kept (4 + 4) and the gradients of relu1_2's output and input
    # (2 * (4 + 4)); float32. Its convolutions take their input gradient as a forward
    # convolution, with no im2col buffer.
    model = caffe.load_model(*tiny_vgg)
    per_pixel = 4 + 4 + 2 * (4 + 4)
    plain = build_extractor(model, CONTENT, STYLE)
    assert memory.activation_bytes(plain, 64, 64) == per_pixel * 64 * 64 * 4
    assert memory.activation_bytes(plain, 64, 64, precision="bfloat16") == per_pixel * 64 * 64 * 2
    # With recompute the segment conv1_2..pool1 is recomputed whole before its backward:
    # pool1 (1) is alive then too.
    lean = build_extractor(model, CONTENT, STYLE, recompute=True)
    assert memory.activation_bytes(lean, 64, 64, recompute=True) == (per_pixel + 1) * 64 * 64 * 4
    # TensorFlow's own input gradient (strided, grouped or dilated convolutions) adds its im2col
    # buffer: the peak moves to conv1_2's backward, relu1_1 kept (4), the gradients of its
    # output and input (2 * (4 + 4)) and 3 * 3 * 4 values.
    for layer in model.layers:
        if isinstance(layer, caffe.CaffeConvolution):
            layer.forward_gradient = False
    im2col = 4 + 2 * (4 + 4) + 3 * 3 * 4
    assert memory.activation_bytes(plain, 64, 64) == im2col * 64 * 64 * 4


def test_check_fits_names_the_fixes_in_order(extractor, monkeypatch):
    # Room for the L-BFGS history and the image buffers, not for the network: every fix, most
    # effective first, a tile size among them.
    state = memory.image_state_bytes(600, 800, "lbfgs", 100)
    have = state + memory.RUNTIME_BYTES // 2
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": have)
    with pytest.raises(memory.MemoryEstimateError) as info:
        memory.check_fits(extractor, 600, 800, device="/GPU:0")
    message = str(info.value)
    assert "\n" not in message and "800x600" in message and f"but {memory._gib(have)}" in message
    fixes = ["-lbfgs_num_correction 5 or -optimizer adam", "-recompute", "-image_size"]
    positions = [message.index(fix) for fix in fixes]
    assert positions == sorted(positions)
    with pytest.raises(memory.MemoryEstimateError) as info:
        memory.check_fits(extractor, 600, 800, device="/job:localhost/device:CPU:0")
    assert "on /job:localhost/device:CPU:0" in str(info.value)
    assert "-recompute" in str(info.value) and "-lbfgs_num_correction 5" in str(info.value)
    # What is already chosen is not suggested again.
    have = memory.image_state_bytes(600, 800, "adam", 100) + memory.RUNTIME_BYTES // 2
    with pytest.raises(memory.MemoryEstimateError) as info:
        memory.check_fits(extractor, 600, 800, optimizer="adam", recompute=True, device="GPU:0")
    assert "-recompute" not in str(info.value) and "-image_size" in str(info.value)


def test_when_no_tile_fits_the_message_says_so(extractor, monkeypatch):
    # Room for the image-sized state and a little more: not for the network at any tile size.
    state = memory.image_state_bytes(6144, 8192, "lbfgs", 5)
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": state + (1 << 20))
    with pytest.raises(memory.MemoryEstimateError) as info:
        memory.check_fits(extractor, 6144, 8192, num_correction=5, recompute=True)
    message = str(info.value)
    assert f"(no -tile_size fits beside the {memory._gib(state)} of image-sized state)" in message
    assert "-tile_size " not in message.split("; try ")[1]


def test_a_history_that_alone_does_not_fit_says_so_and_what_fits(extractor, monkeypatch):
    # 8192 px with 100 pairs: 2 x 100 copies of a 0.6 GiB image, whatever the tiles.
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": 20 << 30)
    with pytest.raises(memory.MemoryEstimateError) as info:
        memory.check_fits(extractor, 6144, 8192, tile=(768, 768))
    message = str(info.value)
    image = 3 * 6144 * 8192 * 4
    state = (200 + memory.IMAGE_BUFFERS) * image
    assert f"needs about {memory._gib(state)} for the lbfgs history of 100 pairs alone" in message
    fit = (10 << 30) // image - memory.IMAGE_BUFFERS
    assert f"use -lbfgs_num_correction {fit // 2} or -optimizer adam" in message


def test_check_fits_passes_when_it_fits_or_memory_is_unknown(extractor, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": 1 << 50)
    need = memory.check_fits(extractor, 64, 64)
    assert need == memory.estimate_peak_bytes(extractor, 64, 64)
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": None)
    assert memory.check_fits(extractor, 64, 64) == need


def test_available_bytes_on_the_cpu():
    with open("/proc/meminfo") as meminfo:
        total = next(int(line.split()[1]) * 1024 for line in meminfo if "MemTotal" in line)
    assert 0 < memory.available_bytes("CPU") <= total


def test_available_bytes_count_what_tensorflows_cpu_pool_keeps_unused(monkeypatch):
    import tensorflow as tf

    info = {"current": 1 << 30, "peak": 5 << 30}
    monkeypatch.setattr(tf.config.experimental, "get_memory_info", lambda device: info)
    with_pool = memory.available_bytes("CPU")
    info["peak"] = info["current"]
    assert with_pool - memory.available_bytes("CPU") == pytest.approx(4 << 30, abs=64 << 20)


_FREED = """
import json, tensorflow as tf
from tf_style import memory
before = memory.available_bytes("CPU")
held = [tf.Variable(tf.ones([256, 1024, 1024])) for _ in range(2)]  # 2 GiB
during = memory.available_bytes("CPU")
del held
print(json.dumps({"before": before, "during": during, "after": memory.available_bytes("CPU")}))
"""


@pytest.mark.slow
def test_memory_freed_by_tensorflow_counts_as_available_again():
    # oneDNN's CPU allocator keeps freed memory (the process's RSS does not fall), so
    # MemAvailable alone would report the 2 GiB as gone after they were freed.
    done = processes.run(processes.snippet(_FREED), timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    gib = 1 << 30
    assert got["before"] - got["during"] > 1.5 * gib
    assert abs(got["after"] - got["before"]) < 0.5 * gib


# One evaluation (L-BFGS, m = 5) in a fresh process; prints its peak RSS and the estimate.
_MEASURE = """
import json, sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)
from tf_style import caffe, memory, optimizers
from tf_style.features import build_extractor
from tf_style.objective import Objective
side = int(sys.argv[2])
ex = build_extractor(caffe.load_model(None, sys.argv[1]), ["relu4_2"],
                     ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
objective = Objective(ex, content_weight=5.0, style_weight=100.0, tv_weight=1e-3)
rng = np.random.default_rng(0)
image = lambda: rng.normal(0, 50, (1, side, side, 3)).astype(np.float32)
objective.capture_content(image())
objective.capture_styles([image()], [1.0])
optimizers.make_optimizer("lbfgs", objective, image(), num_correction=5).run(1)
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
estimate = memory.estimate_peak_bytes(ex, side, side, num_correction=5)
print(json.dumps({"peak": peak, "estimate": estimate}))
"""


@pytest.mark.slow
def test_estimate_is_near_the_measured_peak(tmp_path):
    # VGG-19's real widths (conv layers only), so activations and not the runtime dominate.
    path = tmp_path / "vgg19_conv.caffemodel"
    caffe_writer.write_vgg(path, fc=None, seed=0)
    done = processes.run(
        processes.snippet(_MEASURE, path, "256"), check=True, env={"TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak"] / 1.5 < result["estimate"] < result["peak"] * 1.5


def test_a_run_that_cannot_fit_stops_before_allocating(tiny_run, tmp_path, monkeypatch):
    # Room for the images and the optimizer's state, not for the runtime and the network.
    monkeypatch.setattr(memory, "available_bytes", lambda device="CPU": 100 << 20)
    with pytest.raises(memory.MemoryEstimateError, match="-lbfgs_num_correction 5"):
        stylizer.run(tiny_run)
    assert list(tmp_path.iterdir()) == []
