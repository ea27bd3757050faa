"""What the quality options buy, at equal wall time, on the open_nsfw preset.

    python -m tools.benchmark.quality -out_dir quality_out

(from the repository root). Runs the preset (configs/open_nsfw.flags: Tübingen in the style of
Starry Night at 384 px) with the original's Gram loss, with -style_loss w2, with w2 and
-average_decay, and with configs/quality.flags. The quality preset runs first, to its end; the
others stop when they have run as long. Then, for each result:

* the sliced Wasserstein distance between the result's features and the style image's at
  layers that no loss uses (relu_stage0_block1, relu_stage1_block2, relu_stage2_block3): the
  squared differences of the sorted projections on 64 random directions, over the style's
  variance along them (0: the same distribution of features);
* the content loss: the mean squared difference of the result's and the content's features at
  the content layer (relu_stage1_block1), unweighted.

Lower is better for both; the two pull against each other. Writes quality.json, each result and
side_by_side.png (the four results in the order above) into -out_dir, and prints a table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

UNUSED_LAYERS = ("relu_stage0_block1", "relu_stage1_block2", "relu_stage2_block3")
CONTENT_LAYER = "relu_stage1_block1"
# Each configuration: the preset's flags with these changes (the quality preset: its file).
CONFIGS = {
    "gram": {},
    "w2": {"style_loss": "w2", "style_weight": 1e3},
    "w2 + average": {"style_loss": "w2", "style_weight": 1e3, "average_decay": 0.9},
    "quality": "configs/quality.flags",
}


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, directions: int = 64, seed: int = 0):
    """The squared sliced Wasserstein distance between the rows of `a` [N, C] and `b` [M, C],
    over the variance of `b` along the same directions (scale-free: 0 is the same)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(a.shape[1], directions))
    v /= np.linalg.norm(v, axis=0, keepdims=True)
    quantiles = np.linspace(0, 1, min(len(a), len(b), 4096))
    pa = np.quantile(a @ v, quantiles, axis=0)
    pb = np.quantile(b @ v, quantiles, axis=0)
    return float(np.mean((pa - pb) ** 2) / np.mean(np.var(b @ v, axis=0)))


def preset(path: str, **changes):
    """The StyleConfig of a flagfile, read by the command's own flags, with `changes`."""
    from absl import flags

    from tf_style import cli

    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style", f"--flagfile={path}"])
    return cli.config_from_flags(values).replace(**changes)


def measure(out_dir: str, image_size: int = 384) -> dict:
    """Runs every configuration (see the module's docstring); returns the figures."""
    import tensorflow as tf

    from tf_style import image_io, models, preprocess, stylizer
    from tf_style.features import build_extractor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    common = dict(image_size=image_size, print_iter=0, save_iter=0, gpu=-1)
    results, budget = {}, None
    for name in ["quality", *[n for n in CONFIGS if n != "quality"]]:
        changes = CONFIGS[name]
        path = changes if isinstance(changes, str) else "configs/open_nsfw.flags"
        config = preset(path, **common, output_image=str(out / f"{name.replace(' + ', '_')}.png"))
        if not isinstance(changes, str):
            config = config.replace(**changes)
        if budget is not None:  # as long as the quality preset ran, not longer
            config = config.replace(num_iterations=10_000)
        start = time.perf_counter()
        seen = []

        def stop(progress, start=start, seen=seen, budget=budget):
            seen.append(progress.iteration)
            return budget is not None and time.perf_counter() - start >= budget

        stylizer.run(config, callback=stop)
        seconds = time.perf_counter() - start
        budget = budget or seconds
        results[name] = {"seconds": seconds, "iterations": seen[-1] if seen else 0,
                         "image": config.output_image}  # fmt: skip
    model, entry = models.load("open_nsfw")
    space = models.color_space(entry)
    extractor = build_extractor(model, [CONTENT_LAYER], list(UNUSED_LAYERS))
    content = image_io.read_image(config.content_image)
    style = image_io.read_image(config.style_image[0])
    h, w = preprocess.scaled_size(*content.shape[:2], image_size)
    sh, sw = preprocess.scaled_size(*style.shape[:2], image_size)

    def features(rgb, height, width):
        x = space.to_net(preprocess.resize(rgb, height, width))
        outs = extractor.model(tf.constant(x), training=False)
        return [np.asarray(o, np.float64)[0] for o in outs]

    names = list(extractor.names)
    reference = dict(zip(names, features(content, h, w)))
    style_feats = dict(zip(names, features(style, sh, sw)))
    for result in results.values():
        got = dict(zip(names, features(image_io.read_image(result["image"]), h, w)))
        result["content_loss"] = float(
            np.mean((got[CONTENT_LAYER] - reference[CONTENT_LAYER]) ** 2)
        )
        result["swd"] = {
            layer: sliced_wasserstein(
                got[layer].reshape(-1, got[layer].shape[-1]),
                style_feats[layer].reshape(-1, style_feats[layer].shape[-1]),
            )
            for layer in UNUSED_LAYERS
        }
    order = list(CONFIGS)
    side = np.concatenate([image_io.read_image(results[n]["image"]) for n in order], axis=1)
    image_io.write_image(out / "side_by_side.png", side)
    (out / "quality.json").write_text(json.dumps({n: results[n] for n in order}, indent=1))
    return {n: results[n] for n in order}


def table(results: dict) -> list[str]:
    """The figures as Markdown rows."""
    lines = [
        "| run | iterations | seconds | SWD " + " | SWD ".join(UNUSED_LAYERS) + " | content loss |",
        "| --- | --- | --- | " + " | ".join("---" for _ in UNUSED_LAYERS) + " | --- |",
    ]
    for name, r in results.items():
        swd = " | ".join(f"{r['swd'][layer]:.4f}" for layer in UNUSED_LAYERS)
        lines.append(
            f"| {name} | {r['iterations']} | {r['seconds']:.0f} | {swd} | {r['content_loss']:.4f} |"
        )
    return lines


def main(argv) -> None:
    from absl import flags

    del argv
    for line in table(measure(flags.FLAGS.out_dir, flags.FLAGS.image_size)):
        print(line)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from absl import flags

    from tf_style import apps

    flags.DEFINE_string("out_dir", "quality_out", "Where the images and quality.json go.")
    flags.DEFINE_integer("image_size", 384, "The result's longer side.")
    apps.run(main)
