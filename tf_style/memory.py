"""How much memory one run needs, from layer shapes alone, and whether it fits.

The estimate follows docs/performance.md#memory: the activations the backward pass keeps, the
largest transient of one layer's backward, the optimizer's history, the weights and a few
image-sized buffers. No pixel is computed: the shapes come from Keras' shape inference.

Calibration against the measured peak RSS (VmHWM of a fresh process that loads the model, builds
fixed-step L-BFGS with m = 5 and runs one value-and-gradient evaluation of the default layers;
`python -m tools.benchmark -memory_report`) of a VGG-19-shaped net (real widths, conv layers only,
80 MB of weights) on the 2-core CPU, TF 2.21, float32:

    side   measured (recompute off / on)   estimate (off / on)   estimate / measured
     256    1087 /  1067 MiB                1106 /  1062 MiB      1.02 / 1.00
     512    1574 /  1369 MiB                1578 /  1402 MiB      1.00 / 1.02
    1024    3358 /  2471 MiB                3468 /  2764 MiB      1.03 / 1.12
    2048   10842 /  6879 MiB               11028 /  8213 MiB      1.02 / 1.19

The peak is the activations the backward pass keeps and the gradients around one layer: the
convolutions' input gradients run as forward convolutions (tf_style/caffe/layers.py), without
the im2col buffer of TensorFlow's own CPU kernel (which made conv1_2's backward the peak, 2.25
GiB at 1024 px). Recomputation therefore lowers the peak: by 26 % at 1024 px and 37 % at 2048
px, to 1.3x the ReLU-output floor per megapixel. Not calibrated on a GPU.
"""

from __future__ import annotations

import keras

from tf_style import kerasgraph
from tf_style.errors import MemoryEstimateError
from tf_style.features import Extractor, network_layers

# The process apart from the extractor's weights, activations and image-sized buffers: the
# TensorFlow runtime, the untruncated model, tracing and graph optimization. What the table above
# leaves for it at 256-512 px is 760-850 MiB; 850 keeps the estimate on the high side of the
# run-to-run spread (about 50 MiB).
RUNTIME_BYTES = 850 << 20
# Image-sized float32 buffers outside the network: the image, its gradient, the optimizer's
# current and previous gradient, the step and the proposal, the content target.
IMAGE_BUFFERS = 8
# Copies of the weights: the Keras variables and either the parsed Caffe blobs (while loading) or
# the objective's turned kernels (tf_style/caffe/layers.py, using_turned_kernels).
WEIGHT_COPIES = 2
# Without recompute the measured peak holds about half as much again as the tensors counted by
# `activation_bytes` (256 to 2048 px, table above; with recompute the count is close, and errs
# high). Not explained by the count: TensorFlow's executor frees some forward outputs later
# than their last use.
PLAIN_ACTIVATION_FACTOR = 1.5


def _output_shapes(model: keras.Model, height: int, width: int) -> dict[str, tuple[int, ...]]:
    """Every layer's output shape at this input size, by shape inference."""
    tensors = kerasgraph.layer_outputs(model)
    names = [layer.name for layer in network_layers(model)]
    probe = keras.Model(model.inputs, [tensors[n] for n in names])
    shapes = probe.compute_output_shape((1, height, width, 3))
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return dict(zip(names, (tuple(s) for s in shapes), strict=True))


def _size(shape: tuple[int, ...]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def _segment_of(extractor: Extractor, names: list[str], recompute: bool) -> list[int]:
    """The recompute segment of each layer; every layer its own segment without recompute."""
    if not recompute:
        return list(range(len(names)))
    from tf_style.recompute import recompute_cuts

    cuts = set(recompute_cuts(extractor))
    segment, result = 0, []
    for name in names:
        result.append(segment)
        segment += name in cuts
    return result


def activation_bytes(
    extractor: Extractor,
    height: int,
    width: int,
    *,
    recompute: bool = False,
    precision: str = "float32",
) -> int:
    """Peak bytes of activations and backward transients of one value-and-gradient evaluation.

    The backward pass keeps every layer output but a convolution's (ReLU's gradient needs its
    own output, pooling its input and output; a convolution's input gradient needs only the
    filter). At the backward of layer l the kept outputs of layers up to l are alive, plus that
    layer's transient: its input and output gradients and, for a convolution that takes
    TensorFlow's own input gradient (strided, grouped or dilated ones), its im2col buffer.
    With recompute only the segment outputs (loss layers and boundaries) stay from the forward
    pass, and the current segment's outputs are recomputed.
    """
    item = 2 if precision == "bfloat16" else 4
    model = extractor.model
    layers = network_layers(model)
    shapes = _output_shapes(model, height, width)
    shapes[kerasgraph.producer(model.inputs[0])] = (1, height, width, 3)
    sources = dict(kerasgraph.node_inputs(model))
    names = [layer.name for layer in layers]
    segment = _segment_of(extractor, names, recompute)
    last = {s: i for i, s in enumerate(segment)}  # a segment's output is its last layer's
    features = set(extractor.names)
    outputs = {name: _size(shapes[name]) * item for name in names}
    # A layer's output stays from the forward pass when it is a loss activation, a segment's
    # boundary (with recompute) or, without recompute, any output but a convolution's.
    stored = [not isinstance(layer, keras.layers.Conv2D) for layer in layers]
    boundary = [recompute and last[segment[i]] == i for i in range(len(layers))]
    # What a segment's backward holds of its own: every stored output, recomputed at once.
    inside = [0] * len(last)
    for i, name in enumerate(names):
        if stored[i] or boundary[i]:
            inside[segment[i]] += outputs[name]
    peak = before = 0  # before: the outputs kept from the segments before this one
    for i, layer in enumerate(layers):
        into = sum(_size(shapes[name]) for name in sources[layer.name]) * item
        transient = 2 * (outputs[layer.name] + into)
        if isinstance(layer, keras.layers.Conv2D) and not getattr(layer, "forward_gradient", False):
            kh, kw = layer.kernel_size
            transient += kh * kw * layer.kernel.shape[2] * _size(shapes[layer.name][1:3]) * item
        peak = max(peak, before + inside[segment[i]] + transient)
        if boundary[i] or layer.name in features or (stored[i] and not recompute):
            before += outputs[layer.name]
    return peak


def estimate_peak_bytes(
    extractor: Extractor,
    height: int,
    width: int,
    *,
    optimizer: str = "lbfgs",
    num_correction: int = 100,
    recompute: bool = False,
    precision: str = "float32",
    guided_terms: int = 0,
    tile: tuple[int, int] | None = None,
    tiles_together: int = 1,
) -> int:
    """Estimated peak memory of a run at this image size, in bytes (errs on the high side).

    Args:
        extractor: the extractor the run uses (its layers and weights).
        height, width: the image size the network sees.
        optimizer: "lbfgs" (history of 2 * m image-sized pairs), "tfp_lbfgs" (TFP keeps the
            same and materializes as much again inside its two-loop: ~4 * m) or "adam"
            (2 moments).
        num_correction: the L-BFGS history size m.
        recompute: whether the extractor recomputes activations in the backward pass.
        precision: "float32" or "bfloat16" (the activations' type).
        guided_terms: style terms guided by output masks (-style_masks, region maps): each
            keeps its masked copy of every style layer's activations (float32) for the
            backward pass.
        tile: the (height, width) of a tile (-tile_size): the network sees `tiles_together`
            tiles at a time, while the whole image's content activations and gradient stay.
    """
    history = {"lbfgs": 2 * num_correction, "tfp_lbfgs": 4 * num_correction, "adam": 2}
    if optimizer not in history:
        raise ValueError(f"optimizer must be one of {', '.join(history)}, not {optimizer!r}")
    return (
        image_state_bytes(height, width, optimizer, num_correction)
        + network_bytes(
            extractor,
            *(tile or (height, width)),
            recompute=recompute,
            precision=precision,
            guided_terms=guided_terms,
            copies=tiles_together if tile else 1,
        )
        + (_content_bytes(extractor, height, width) + 3 * height * width * 4 if tile else 0)
    )


def image_state_bytes(height: int, width: int, optimizer: str, num_correction: int) -> int:
    """The image-sized buffers of a run, whatever its network or tiles: the optimizer's state
    (the L-BFGS history: 2 x m images; TFP's: about 4 x m; Adam's 2 moments) and
    IMAGE_BUFFERS more."""
    history = {"lbfgs": 2 * num_correction, "tfp_lbfgs": 4 * num_correction}.get(optimizer, 2)
    return (history + IMAGE_BUFFERS) * 3 * height * width * 4


def network_bytes(
    extractor: Extractor,
    height: int,
    width: int,
    *,
    recompute: bool = False,
    precision: str = "float32",
    guided_terms: int = 0,
    copies: int = 1,
) -> int:
    """What `copies` evaluations of the network at this input size at once take (tiles run
    in pairs), and the process around them: the runtime, the weights and their copies, the
    activations (see `estimate_peak_bytes`)."""
    weights = sum(_size(w.shape) * 4 for w in extractor.model.weights)
    guided = 0
    if guided_terms:
        shapes = _output_shapes(extractor.model, height, width)
        style = [extractor.names[i] for i in extractor.style]
        guided = guided_terms * sum(_size(shapes[name]) * 4 for name in style)
    activations = activation_bytes(
        extractor, height, width, recompute=recompute, precision=precision
    )
    factor = 1 if recompute else PLAIN_ACTIVATION_FACTOR
    return copies * (guided + int(activations * factor)) + RUNTIME_BYTES + WEIGHT_COPIES * weights


def _content_bytes(extractor: Extractor, height: int, width: int) -> int:
    """The content's activations at the content layers of the whole image (float32)."""
    shapes = _output_shapes(extractor.model, height, width)
    return sum(_size(shapes[extractor.names[i]]) * 4 for i in extractor.content)


def _cpu_pool_free() -> int:
    """Bytes TensorFlow's CPU allocator holds but does not use: with oneDNN (the default) it
    keeps freed memory for reuse instead of returning it to the system, so after a -scales
    chain's lower stages MemAvailable alone missed 10 of the 21 GiB the next stage could use.
    Its pool has grown to at least its peak; what it uses now is `current`."""
    import tensorflow as tf

    try:
        info = tf.config.experimental.get_memory_info("CPU:0")
    except (ValueError, RuntimeError):  # an allocator that keeps no statistics
        return 0
    return max(0, info["peak"] - info["current"])


def available_bytes(device: str = "CPU") -> int | None:
    """Memory available to a run on `device` ("CPU", "GPU:0", "/GPU:1"), or None if unknown.

    CPU: MemAvailable of /proc/meminfo, plus what TensorFlow's CPU allocator keeps from earlier
    work without using it. GPU: the device's total memory less what TensorFlow holds on it now,
    when TensorFlow reports both.
    """
    # Plain ("CPU", "/GPU:1") or full TensorFlow names (".../device:GPU:0").
    kind = device.upper().rsplit("/", 1)[-1].removeprefix("DEVICE:")
    if kind.startswith("CPU"):
        try:
            with open("/proc/meminfo") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024 + _cpu_pool_free()
        except OSError:
            return None
        return None
    import tensorflow as tf

    try:
        index = int(kind.rsplit(":", 1)[1]) if ":" in kind else 0
        gpu = tf.config.list_physical_devices("GPU")[index]
        total = tf.config.experimental.get_device_details(gpu).get("memory_limit")
        used = tf.config.experimental.get_memory_info(f"GPU:{index}")["current"]
    except (IndexError, ValueError, RuntimeError, KeyError):
        return None
    return None if total is None else int(total) - int(used)


def check_sizes_fit(
    content: tuple[int, int],
    styles: list[tuple[int, int]],
    *,
    optimizer: str = "lbfgs",
    num_correction: int = 100,
    device: str = "CPU",
) -> int:
    """Refuses image sizes that cannot fit whatever the network, before anything is resized.

    The lower bound counts what is image-sized and independent of the model: the resized images
    (float64 while they are prepared), and the optimizer's history and buffers at the content's
    size. A run that passes may still not fit once the network's activations are known
    (`check_fits` checks that).

    Returns:
        The lower bound in bytes.

    Raises:
        MemoryEstimateError: names -image_size (and -style_scale), the bound and what is
            available.
    """
    (h, w) = content
    need = image_state_bytes(h, w, optimizer, num_correction) + 3 * h * w * 8
    need += sum(3 * sh * sw * 8 for sh, sw in styles)
    have = available_bytes(device)
    if have is None or need <= have:
        return need
    biggest = max([(h, w), *styles], key=lambda s: s[0] * s[1])
    raise MemoryEstimateError(
        f"-image_size: the images would be {w}x{h} (content) and "
        f"{','.join(f'{sw}x{sh}' for sh, sw in styles)} (style) pixels, which need at least "
        f"{_gib(need)} on {device} before the network is counted, and {_gib(have)} is "
        f"available; give a smaller -image_size" + (" or -style_scale" if biggest != (h, w) else "")
    )


def tile_crop(height: int, width: int, tile: int, overlap: int | None = None) -> tuple[int, int]:
    """The (height, width) the network sees of a tile of about `tile` pixels with its overlap
    (a quarter of `tile` by default) on both sides, within the image."""
    overlap = tile // 4 if overlap is None else overlap
    return min(height, tile + 2 * overlap), min(width, tile + 2 * overlap)


def fitting_tile(extractor: Extractor, height: int, width: int, have: int, **settings):
    """The largest -tile_size (a multiple of 64, from 128) whose run fits in `have` bytes one
    tile at a time, or None when none does."""
    settings.pop("tile", None)
    settings.pop("tiles_together", None)
    best = None
    for tile in range(128, max(height, width) + 64, 64):
        crop = tile_crop(height, width, tile)
        if estimate_peak_bytes(extractor, height, width, tile=crop, **settings) > have:
            break
        best = tile
    return best


def check_fits(
    extractor: Extractor,
    height: int,
    width: int,
    *,
    device: str = "CPU",
    **settings,
) -> int:
    """Raises MemoryEstimateError when the run's estimated peak exceeds the available memory.

    `settings` are `estimate_peak_bytes`'s (optimizer, num_correction, recompute, precision,
    guided_terms, tile, tiles_together).

    Returns:
        The estimate in bytes (also when the available memory is unknown).

    Raises:
        MemoryEstimateError: one line with the estimate, what is available, and what would
            help, most effective first: a smaller history when the optimizer's state alone
            does not fit, else the tile size that would fit.
    """
    need = estimate_peak_bytes(extractor, height, width, **settings)
    have = available_bytes(device)
    if have is None or need <= have:
        return need
    optimizer = settings.get("optimizer", "lbfgs")
    m = settings.get("num_correction", 100)
    state = image_state_bytes(height, width, optimizer, m)
    if optimizer != "adam" and state > have:
        # The history alone takes more than there is: no tile size helps. Half of what there is
        # for the history leaves room for the network.
        copies = have // 2 // (3 * height * width * 4) - IMAGE_BUFFERS
        fit = max(1, min(m - 1, copies // (2 if optimizer == "lbfgs" else 4)))
        raise MemoryEstimateError(
            f"a {width}x{height} image needs about {_gib(state)} for the {optimizer} history of "
            f"{m} pairs alone, and {_gib(have)} is available on {device}; use "
            f"-lbfgs_num_correction {fit} or -optimizer adam"
        )
    hints = []
    if optimizer != "adam" and m > 5:
        hints.append("-lbfgs_num_correction 5 or -optimizer adam")
    if not settings.get("recompute"):
        hints.append("-recompute")
    tile = (
        None if settings.get("tile") else fitting_tile(extractor, height, width, have, **settings)
    )
    if tile is not None:
        hints.append(f"-tile_size {tile} (or auto)")
    hints.append("a smaller -image_size")
    # Without a tile that fits, say why, or -tile_size auto would seem to have been ignored.
    why = (
        f" (no -tile_size fits beside the {_gib(state)} of image-sized state)"
        if tile is None and not settings.get("tile")
        else ""
    )
    raise MemoryEstimateError(
        f"a {width}x{height} image needs about {_gib(need)} on {device}, but {_gib(have)} is "
        f"available{why}; try {', then '.join(hints)}"
    )


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
