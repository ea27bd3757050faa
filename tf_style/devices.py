"""Which devices a run uses: `-gpu` lists and the original's `-multigpu_strategy` split points.

With several devices the network is cut into one segment per device (as the original's
`setup_multi_gpu`); each segment's forward, losses and backward run on its device, and the image
and optimizer state live on the first (see `features.split_extractor` and `Objective`).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from tf_style.errors import DeviceError
from tf_style.features import Extractor, network_layers
from tf_style.report import Reporter


def select_devices(
    gpu: tuple[int, ...] | None,
    reporter: Reporter,
    available: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """Maps the original's `-gpu` to TensorFlow device names.

    Args:
        gpu: -gpu: None (the first GPU, else the CPU), (-1,) (the CPU) or device indices.
        reporter: where the "no GPU" note goes.
        available: the devices that -gpu indices count in; by default the GPUs TensorFlow sees.
            Passing logical CPU devices (`tf.config.set_logical_device_configuration`) runs a
            split on a machine without GPUs, which is how the tests exercise it.

    Returns:
        One device name per segment: one, or one per listed index.

    Raises:
        DeviceError: an index beyond the available devices.
    """
    if available is None:
        available = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpu == (-1,):
        return ("/CPU:0",)
    if gpu is None:
        if available:
            return (available[0],)
        reporter.note("No GPU found; running on the CPU (-gpu -1 says so explicitly).")
        return ("/CPU:0",)
    missing = [g for g in gpu if g >= len(available)]
    if missing:
        raise DeviceError(
            f"-gpu {','.join(map(str, missing))}: this machine has {len(available)} GPU(s) "
            "visible to TensorFlow; use -gpu -1 for the CPU"
        )
    return tuple(available[g] for g in gpu)


def original_modules(extractor: Extractor, tv_weight: float) -> list[str | None]:
    """The original's `net`, one entry per module: the layer after which it sits.

    The original numbers the modules of its `nn.Sequential` from 1: the TV module first (when
    tv_weight > 0; None here, as it sits before every layer), then each layer of the truncated
    network, each followed by its ContentLoss and then its StyleLoss modules (default VGG-19:
    37 modules). A loss module is represented by its layer's name.
    """
    modules: list[str | None] = [None] if tv_weight > 0 else []
    content = {extractor.names[i] for i in extractor.content}
    style = {extractor.names[i] for i in extractor.style}
    for layer in network_layers(extractor.model):
        modules += [layer.name] * (1 + (layer.name in content) + (layer.name in style))
    return modules


def split_points(
    strategy: Sequence[str], extractor: Extractor, tv_weight: float, num_devices: int
) -> list[str | None]:
    """The layers after which each device's segment ends, from `-multigpu_strategy`.

    An entry that is a number is the original's 1-based module index (see `original_modules`):
    modules up to and including it go on the current device. Other entries are layer names:
    the segment ends after that layer. Without a strategy, two devices split as the original
    does: after module 3, or 4 when the TV module comes first (conv1_1, relu1_1 and its style
    loss on the first device).

    A split between a layer and its own loss modules (the original allowed one) puts the losses
    with their layer: the placement moves by a module, the results do not change.

    Raises:
        DeviceError: more than 2 devices without a strategy, or a module index out of range.
    """
    if num_devices == 1:
        return []
    if not strategy:
        if num_devices != 2:
            raise DeviceError(
                f"-gpu lists {num_devices} devices: give -multigpu_strategy with "
                f"{num_devices - 1} split points (the default split is defined for 2 devices)"
            )
        strategy = ("4",) if tv_weight > 0 else ("3",)
    modules = original_modules(extractor, tv_weight)
    cuts = []
    for entry in strategy:
        if not entry.isdigit():
            cuts.append(entry)
            continue
        index = int(entry)
        if not 1 <= index < len(modules):
            raise DeviceError(
                f"-multigpu_strategy {entry}: the network has {len(modules)} modules "
                f"(counted as the original does); give indices from 1 to {len(modules) - 1}"
            )
        cut = modules[index - 1]
        if cuts and cuts[-1] == cut:
            raise DeviceError(
                f"-multigpu_strategy {','.join(strategy)}: two split points fall after layer "
                f"{cut} (its loss modules stay on its device); give the later one a larger index"
            )
        cuts.append(cut)
    return cuts
