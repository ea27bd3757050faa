"""Batches of jobs (`-jobs`) pushed through `tf.distribute` replicas.

Each replica optimises its own job: job i of a batch of N goes to replica i mod R, in waves of
R jobs. A wave is one traced program in which every replica runs a chunk of its own optimizer,
with its own image, targets and optimizer state on its own device (`tf.distribute` data
parallelism would mirror one state over all replicas; here no value is shared, so each result
equals the job's sequential run). Replicas: `MirroredStrategy` over one machine's devices,
`MultiWorkerMirroredStrategy` over the machines of `TF_CONFIG` (each worker runs and writes its
own jobs). `-tpu` connects to a TPU and makes its `TPUStrategy`; there each job is placed on
its own TPU core and compiled with XLA (see `_wave_step`).

Deviation from a single run: a batch writes its final images only (no intermediate saves,
progress lines or checkpoints).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tf_style import image_io, loop, masks, prepare
from tf_style.batch.jobs import read_jobs
from tf_style.config import StyleConfig
from tf_style.devices import select_devices
from tf_style.errors import DeviceError, JobError, NonFiniteError
from tf_style.report import Reporter


def tpu_strategy(address: str) -> tf.distribute.Strategy:
    """Connects to the TPU `address` and returns its TPUStrategy.

    Raises:
        DeviceError: no TPU is reachable there.
    """
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        reason = " ".join(str(e).split())[:160]
        raise DeviceError(
            f"-tpu {address}: no TPU reachable ({reason}); check the TPU's name or address, "
            "or leave out -tpu"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(
    config: StyleConfig, reporter: Reporter, devices: Sequence[str] | None = None
) -> tf.distribute.Strategy:
    """The replicas a batch runs on.

    `-tpu` selects the TPU; else a `TF_CONFIG` environment variable (a cluster of workers)
    selects MultiWorkerMirroredStrategy; else MirroredStrategy over `devices` (default: the
    GPUs -gpu lists, all GPUs without -gpu, or the CPU).
    """
    if config.tpu:
        return tpu_strategy(config.tpu)
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices is None:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = gpus if config.gpu is None and gpus else select_devices(config.gpu, reporter)
    return tf.distribute.MirroredStrategy(list(devices))


def run_jobs(
    config: StyleConfig,
    reporter: Reporter | None = None,
    strategy: tf.distribute.Strategy | None = None,
    devices: Sequence[str] | None = None,
    callback: loop.Callback | None = None,
) -> dict[int, np.ndarray]:
    """Runs the batch `config.jobs`, each job on a replica, and writes each job's image.

    Args:
        config: the options shared by every job, with `jobs` (and maybe `tpu`) set.
        reporter: where the per-job log lines go (silent by default).
        strategy: the replicas (default: `make_strategy(config, reporter, devices)`).
        devices: the devices `make_strategy` counts -gpu in (see there).
        callback: called after every chunk of a wave with the `Progress` of the wave's first
            running job; returning True stops the batch: the wave's current images are saved
            as their final ones, and later jobs do not start.

    Returns:
        {job number (0-based, in the batch's order): final float RGB image} for the jobs this
        worker ran (all of them unless several workers share the batch).

    Raises:
        JobError: see `read_jobs`; `-optimizer tfp_lbfgs`, whose chunks are not traceable as one
            call, is refused.
        NonFiniteError: a job's loss became NaN or infinite (the others finished; its last
            finite image was saved).
    """
    reporter = reporter or Reporter()
    if config.optimizer == "tfp_lbfgs":
        raise JobError("-jobs runs -optimizer lbfgs or adam; tfp_lbfgs is for single runs")
    jobs = read_jobs(config)
    for job in jobs:  # every input of every job, before the first one starts
        image_io.check_files(job)
        masks.check(job)
    strategy = strategy or make_strategy(config, reporter, devices)
    if isinstance(strategy, tf.distribute.TPUStrategy):
        jobs = [job.replace(jit=True) for job in jobs]  # a TPU runs compiled programs only
    local = strategy.extended.worker_devices
    total = strategy.num_replicas_in_sync
    first = task_id(strategy) * len(local)  # this worker's first replica id
    results, failed, models = {}, [], {}
    for start in range(0, len(jobs), total):
        wave = {r: start + first + r for r in range(len(local)) if start + first + r < len(jobs)}
        prepared = {}
        for r, i in wave.items():
            job = jobs[i]
            reporter.note(f"Job {i + 1} of {len(jobs)} on {local[r]}: {job.output_image}")
            # Loaded once per replica device for the whole batch: each replica's weights live
            # on its device (a compiled chunk reads no variable of another device).
            key = (job.model_file, job.proto_file, local[r])
            if key not in models:
                with tf.device(local[r]):
                    models[key] = prepare.load_model(job, reporter)
            prepared[r] = prepare.prepare(job, reporter, (local[r],), loaded=models[key])
        if prepared:  # another worker's share of the batch may leave this wave empty here
            reporter.running(prepared[min(prepared)].optimizer.title)
        stopped = optimize_wave(strategy, prepared, jobs, wave, first, callback)
        for r, i in wave.items():
            job, p = jobs[i], prepared[r]
            results[i] = loop.result(job, p)
            loop.write_result(job, results[i], loop.metadata(job))
            if p.optimizer.nonfinite:
                failed.append(job.output_image)
        if stopped:
            later = len(jobs) - (start + total)
            reporter.note(
                f"Stopped at iteration {stopped}: the current images of jobs "
                f"{', '.join(str(i + 1) for i in wave.values())} are saved"
                + (f"; {later} later job(s) did not start." if later > 0 else ".")
            )
            break
    if failed:
        raise NonFiniteError(
            f"the loss became NaN or infinite in the jobs writing {','.join(failed)}; their last "
            "finite images were saved. Try smaller weights or -learning_rate"
        )
    return results


def task_id(strategy: tf.distribute.Strategy) -> int:
    """This worker's index among a multi-worker strategy's workers (0 otherwise)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        return resolver.task_id or 0
    return 0


def optimize_wave(
    strategy: tf.distribute.Strategy,
    prepared: dict,
    jobs: list[StyleConfig],
    wave: dict[int, int],
    first: int,
    callback: loop.Callback | None,
    steps: dict | None = None,
) -> int:
    """Runs every replica's optimizer of a wave to -num_iterations, in MAX_CHUNK chunks.

    `steps` keeps the traced wave steps between calls whose `prepared` optimizers are the
    same (the frames of a batch of clips, `batch.clips`).

    Returns:
        The iteration at which `callback` stopped the wave, or 0.
    """
    steps = {} if steps is None else steps
    done, num_iterations = 0, jobs[0].num_iterations
    for mark in loop.chunk_marks(num_iterations, print_iter=0, save_iter=0):
        running = tuple(
            r for r, p in prepared.items() if not (p.optimizer.stopped or p.optimizer.nonfinite)
        )
        if not running:
            break
        if running not in steps:  # traced again only when a job stops early
            steps[running] = _wave_step(strategy, prepared, first, running)
        steps[running](tf.constant(mark - done, tf.int32))
        done = mark
        if callback is not None and done < num_iterations:
            r = running[0]
            if callback(loop.progress_of(jobs[wave[r]], prepared[r], done, num_iterations)):
                return done
    return 0


def _wave_step(strategy, prepared: dict, first: int, running: tuple[int, ...]):
    """One traced call in which each running replica runs a chunk of its own optimizer."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        # TPU replicas share one compiled program whose replica id is known only at run time,
        # so a replica could not pick its own job's optimizer (a job's state is its own
        # variables). Instead each job's compiled chunk is placed on its core by hand, which
        # TensorFlow supports on an initialised TPU; the cores run them side by side.
        cores = strategy.extended.worker_devices

        @tf.function(autograph=False)
        def on_cores(n):
            for r in running:
                with tf.device(cores[r]):
                    prepared[r].optimizer.chunk(n)

        return on_cores

    def replica_chunk(n):
        # Mirrored strategies trace `replica_chunk` once per replica, with a constant id.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        r = tf.get_static_value(replica)
        if r - first in running:
            # The optimizer's own traced chunk, nested in this program, on this replica's device.
            prepared[r - first].optimizer.chunk(n)

    @tf.function(autograph=False)  # plain Python control flow; errors surface unwrapped
    def step(n):
        strategy.run(replica_chunk, args=(n,))

    return step
