"""The chunked optimisation loop of one run: chunks between the original's prints and saves,
checkpoints, the caller's callback, and the final image.

Each chunk is one traced call of the optimizer; Python runs only between chunks, at the
iterations where the original prints or saves, where a checkpoint is due, and every
`MAX_CHUNK` iterations (so that a Ctrl-C is answered within one chunk).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np

from tf_style import checkpoint, color, image_io, provenance, report, tiling
from tf_style.config import StyleConfig
from tf_style.errors import NonFiniteError, WriteError

# Longest stretch of evaluations run as one traced call: it bounds how long a Ctrl-C waits.
MAX_CHUNK = 20


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a callback sees after each printed or saved iteration.

    Example:
        >>> def stop_when_flat(progress: Progress) -> bool:  # returning True stops the run
        ...     return progress.iteration >= 100 and sum(progress.style_losses) < 1.0
        >>> run(StyleConfig(content_image="photo.jpg", style_image="starry.jpg"),
        ...     callback=stop_when_flat)
    """

    iteration: int
    num_iterations: int
    evaluations: int
    content_losses: tuple[float, ...]
    style_losses: tuple[float, ...]
    image: Callable[[], np.ndarray]  # the current image as float RGB, computed on demand
    temporal_loss: float | None = None  # a video frame's (docs/video.md), when its weight is on


Callback = Callable[[Progress], "bool | None"]


def chunk_marks(
    num_iterations: int,
    print_iter: int,
    save_iter: int,
    checkpoint_iter: int = 0,
    max_chunk: int = MAX_CHUNK,
) -> list[int]:
    """The iterations after which the original prints or saves, checkpoints and chunk ends."""
    marks = set(range(max_chunk, num_iterations, max_chunk)) | {num_iterations}
    for every in (print_iter, save_iter, checkpoint_iter):
        if every > 0:
            marks.update(range(every, num_iterations + 1, every))
    return sorted(marks)


def progress_of(config: StyleConfig, prepared, done: int, num_iterations: int) -> Progress:
    """The `Progress` of a `prepare.Prepared` run of `config` after iteration `done`."""
    optimizer = prepared.optimizer
    content, style, temporal = losses_of(prepared.objective, optimizer.aux.numpy())
    return Progress(
        done,
        num_iterations,
        optimizer.evaluations,
        tuple(map(float, content)),
        tuple(map(float, style)),
        lambda: result(config, prepared),
        temporal,
    )


def losses_of(objective, aux: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(content losses, style losses, temporal loss or None) of an objective's printed terms."""
    k, s = objective.num_content, objective.num_style
    return aux[:k], aux[k : k + s], (float(aux[k + s]) if len(aux) > k + s else None)


def result(config: StyleConfig, prepared) -> np.ndarray:
    """The float RGB image a run saves now: the optimizer's result (the latest iterate, or
    the average of the iterates) with the colour options applied."""
    x = prepared.optimizer.result().numpy()
    return color.output_rgb(config, x, prepared.content, prepared.space)


def metadata(record: StyleConfig) -> dict[str, str]:
    """The provenance a run's images carry: every PNG holds the flags, versions and model
    checksum that made it (an addition). -resume and -checkpoint_iter leave the image unchanged,
    so they are not recorded: a resumed run's file equals an uninterrupted run's byte for byte."""
    return provenance.image_metadata(record.replace(resume=False, checkpoint_iter=0))


def write_result(
    config: StyleConfig, rgb: np.ndarray, metadata: dict[str, str], path: str | None = None
) -> None:
    """Writes a run's image to -output_image (or `path`) in its format and bit depth."""
    image_io.write_image(
        path or config.output_image,
        rgb,
        metadata=metadata,
        jpeg_quality=config.jpeg_quality,
        bit_depth=config.output_bit_depth,
    )


def optimize(
    config: StyleConfig,
    prepared,
    reporter: report.Reporter,
    callback: Callback | None,
    write: bool,
    record: StyleConfig,
) -> np.ndarray:
    """Runs `prepared.optimizer` to `config.num_iterations` and returns the final float RGB.

    `prepared` is a `prepare.Prepared` whose targets are captured. With `write`, the images
    (intermediate and final, with `record`'s provenance), checkpoints and TensorBoard logs are
    written; without, nothing is.

    Raises:
        NonFiniteError: the loss became NaN or infinite; the last finite image was saved.
    """
    optimizer, objective = prepared.optimizer, prepared.objective
    n = config.num_iterations

    def current_image() -> np.ndarray:
        return result(config, prepared)

    tags = write and metadata(record)

    def save(path: str, rgb: np.ndarray) -> None:
        if write:
            write_result(config, rgb, tags, path)

    checkpoints = write and (config.checkpoint_iter > 0 or config.resume)
    board = report.TensorBoardLog(config.log_dir) if write and config.log_dir else None
    done = saved_at = first = optimizer.iterations  # not 0 after -resume
    start = time.perf_counter()
    # A tiled evaluation takes minutes at print sizes: one per chunk keeps the live line going.
    tiled = isinstance(objective, tiling.TiledObjective)
    marks = chunk_marks(
        n, config.print_iter, config.save_iter, config.checkpoint_iter, 1 if tiled else MAX_CHUNK
    )
    for mark in marks:
        if mark <= done:
            continue
        _, aux = optimizer.run(mark - done)
        done = optimizer.iterations
        rate = (done - first) / (time.perf_counter() - start)
        reporter.progress(done, n, rate, float(np.sum(aux)))  # the printed "Total loss"
        if optimizer.nonfinite:
            save(config.output_image, current_image())
            raise NonFiniteError(
                f"the loss became NaN or infinite after iteration {done}; the last finite image "
                f"is in {config.output_image}. Try smaller weights or -learning_rate"
            )
        stopped = optimizer.stopped or done < mark
        content, style, temporal = losses_of(objective, aux.numpy())
        if (config.print_iter > 0 and done % config.print_iter == 0) or stopped:
            reporter.iteration(done, n, content, style, optimizer.evaluations)
            if temporal is not None:
                reporter.temporal(temporal)
        if board is not None:
            board.losses(done, content, style, temporal)
        if stopped:
            # The original wrote no final image when L-BFGS stopped early (its quirk Q4).
            reporter.note(f"The optimizer stopped at iteration {done}; saving the result.")
            break
        if done < n and config.save_iter > 0 and done % config.save_iter == 0:
            path = image_io.intermediate_path(config.output_image, done)
            save(path, current_image())
            if board is not None:
                board.image(done, current_image())
        if write and config.checkpoint_iter > 0 and done % config.checkpoint_iter == 0:
            _checkpoint(config, optimizer, lambda: save(config.output_image, current_image()))
            saved_at = done
        if callback is not None and callback(progress_of(config, prepared, done, n)) and done < n:
            reporter.note(f"Stopped at iteration {done}; saving the result.")
            if checkpoints and saved_at != done:
                _checkpoint(config, optimizer, lambda: save(config.output_image, current_image()))
            break
    final = current_image()
    save(config.output_image, final)
    if write:
        reporter.saved(config.output_image)
    return final


def _checkpoint(config: StyleConfig, optimizer, save_image: Callable[[], None]) -> None:
    """Saves a checkpoint; when that fails (a full disk), the current image first, then the
    error, naming where the image went."""
    try:
        checkpoint.save(config, optimizer)
    except WriteError as e:
        save_image()
        raise WriteError(f"{e}; the current image is in {config.output_image}") from None
