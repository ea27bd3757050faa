"""What both sides are given: the synthetic VGG-19, the images, the initial images.

Besides worker.py and caffe_steps.py (what they measure) the one module that imports tf_style:
the writer of synthetic Caffe files, the converter and the seeded noise, each inside the
function that needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.benchmark import peer


def write_weights(model: Path, npz: Path, seed: int) -> None:
    """Writes one seeded VGG-19 as a .caffemodel and as the peer's arrays (.npz).

    The npz holds the peer's state_dict (Caffe's blob layout is torch's: OIHW convolutions,
    (out, in) linear layers, BGR input).
    """
    from tf_style.testing import caffe_writer as writer

    # With zero biases a ReLU network is positively homogeneous (f(ax) = a f(x)), so at the
    # original's start (noise of 0.001) every feature, Gram and gradient is nearly zero: the
    # loss crawled for 85 evaluations, then the fixed-step L-BFGS overshot to 1e13 and the
    # runs turned chaotic. Real VGG-19 has biases of order 1 (its activations tens to
    # hundreds); with them the loss falls as in a real run (x100 in 50 evaluations at 256 px).
    layers = writer.vgg_layers(seed=seed, conv_bias=1.0)
    writer.write_net(
        model, layers, name="VGG_ILSVRC_19_layers", version=1, input_shape=(1, 3, 224, 224)
    )
    weighted = [layer for layer in layers if layer.get("blobs")]
    arrays = {}
    for key, layer in zip(peer.peer_keys(), weighted, strict=True):
        weight, bias = layer["blobs"]
        arrays[f"{key}.weight"], arrays[f"{key}.bias"] = weight, bias
    np.savez(npz, **arrays)


def write_conv_vgg(model: Path, seed: int) -> None:
    """A conv-only synthetic VGG-19 (the memory report's)."""
    from tf_style.testing import caffe_writer as writer

    writer.write_vgg(model, fc=None, seed=seed)


def write_caffe_vgg(model: Path, proto: Path, converted: Path) -> None:
    """The Caffe import benchmark's files: a synthetic VGG-19 with its fc layers (V1, legacy
    dims, like Oxford's file), its prototxt, and the converted file made of them."""
    from tf_style import caffe
    from tf_style.testing import caffe_writer as writer

    writer.write_vgg(model, prototxt_path=proto)
    caffe.convert(proto, model, converted)


def write_images(folder: Path, sizes: list[int], content: str, style: str) -> None:
    """Square centre crops of the content and style images at each size, as PNG."""
    from PIL import Image

    for name, path in (("content", content), ("style", style)):
        image = Image.open(path).convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        square = image.crop((left, top, left + side, top + side))
        for size in sizes:
            square.resize((size, size), Image.LANCZOS).save(folder / f"{name}_{size}.png")


def prepare(flags, folder: Path, sizes: list[int], seeds: list[int], log) -> tuple[Path, Path, str]:
    """Writes every input of the runs into `folder`.

    Returns:
      The converted model our runs load, the peer's state_dict, and the peer's checkout (empty
      where the peer rounds are skipped: no checkout, or its Python failed).
    """
    peer_dir = flags.peer_dir
    if peer_dir and not (Path(peer_dir) / "neural_style.py").exists():
        log(f"-peer_dir {peer_dir}: no neural_style.py there; the peer rounds are skipped.")
        peer_dir = ""
    if not peer_dir:
        log("No neural-style-pt checkout (-peer_dir): measuring tf_style's own modes only.")
    log(f"Writing the synthetic VGG-19 and images to {folder} ...")
    # The peer picks VGG-19 by the file name ("vgg" and "19" in it).
    model = folder / f"vgg19_synthetic_biased_seed{flags.seed}.caffemodel"
    pth, npz = model.with_suffix(".pth"), model.with_suffix(".npz")
    if model.exists() and (pth.exists() or not peer_dir):
        log(f"Reusing {model} (delete it to write the weights again).")
    else:
        write_weights(model, npz, flags.seed)
    # Our runs load the converted file, as every zoo model run does after its first download
    # (tf_style.models.resolve): its weights are mapped, not parsed and copied.
    converted = model.with_suffix(".tfstyle")
    if not converted.exists() or converted.stat().st_mtime < model.stat().st_mtime:
        from tf_style import caffe

        caffe.convert(None, model, converted)
    write_images(folder, sizes, flags.content_image, flags.style_image)
    for size in sizes:
        for name in ("content", "style"):
            array = peer.peer_preprocess(folder / f"{name}_{size}.png")
            np.save(folder / f"{name}_{size}.npy", array)
    if peer_dir:
        done = peer.setup(flags.peer_python, npz, pth, seeds, folder, sizes)
        if done.returncode != 0:
            log(f"The peer's Python failed ({done.stderr.strip()[-300:]}); peer rounds skipped.")
            peer_dir = ""
    if not peer_dir:
        from tf_style import preprocess

        for seed in seeds:
            for size in sizes:
                init = preprocess.random_init(size, size, seed)[0].transpose(2, 0, 1)
                np.save(folder / f"init_{size}_s{seed}.npy", init)
    for seed in seeds:  # the peer's CHW noise -> NHWC
        for size in sizes:
            path = folder / f"init_{size}_s{seed}.npy"
            init = np.load(path).transpose(1, 2, 0)[None]
            np.save(path, np.ascontiguousarray(init))
    npz.unlink(missing_ok=True)
    return converted, pth, peer_dir
