"""`-checkpoint_iter` and `-resume`: the optimizer's whole state, saved so a kill loses nothing."""

from __future__ import annotations

import json
import os
import secrets
import shutil

import tensorflow as tf

from tf_style import fileio, optimizers
from tf_style.config import CHECKPOINT, StyleConfig, settings
from tf_style.errors import CheckpointError, WriteError

_LATEST = "latest.json"


def checkpoint_dir(output_image: str) -> str:
    """Where `-checkpoint_iter` saves and `-resume` looks: `dir/out.png` -> `dir/out.ckpt`."""
    return os.path.splitext(output_image)[0] + ".ckpt"


def check_writable(config: StyleConfig) -> None:
    """Refuses, before a run starts, a checkpoint folder that cannot be one.

    Raises:
        CheckpointError: `<output stem>.ckpt` exists and is not a folder.
    """
    directory = checkpoint_dir(config.output_image)
    if (config.checkpoint_iter > 0 or config.resume) and os.path.lexists(directory):
        if not os.path.isdir(directory):
            raise CheckpointError(
                f"-checkpoint_iter saves into {directory}, which exists and is not a folder; "
                "move it away, or choose another -output_image"
            )


def _settings(config: StyleConfig) -> dict:
    # Through JSON and back, so that tuples compare equal to the lists read from the file.
    return json.loads(json.dumps(settings(config, CHECKPOINT)))


def save(config: StyleConfig, optimizer: optimizers.Optimizer) -> str:
    """Saves the optimizer's whole state (image, L-BFGS history or Adam moments, counters).

    The checkpoint goes to fresh files; then `latest.json`, which names it, is replaced
    atomically, and only then are older files removed. A checkpoint cut short by a kill is
    never named by `latest.json`, so -resume never takes it for a whole one.

    Returns:
        The checkpoint's path prefix.
    """
    directory = checkpoint_dir(config.output_image)
    name = f"ckpt-{optimizer.iterations}-{secrets.token_hex(4)}"
    try:
        os.makedirs(directory, exist_ok=True)
        prefix = tf.train.Checkpoint(optimizer=optimizer).write(os.path.join(directory, name))
        for entry in os.listdir(directory):
            if entry.startswith(name + "."):
                _fsync(os.path.join(directory, entry))
        pointer = {"prefix": name, "iteration": optimizer.iterations, "settings": _settings(config)}
        fileio.write_atomically(os.path.join(directory, _LATEST), json.dumps(pointer))
    except (OSError, tf.errors.OpError) as e:
        # What TensorFlow left of this checkpoint (its files and its `_temp` folder) goes; the
        # previous checkpoint, which latest.json still names, stays.
        _remove(directory, lambda entry: entry.startswith(name))
        reason = getattr(e, "message", None) or getattr(e, "strerror", None) or str(e)
        raise WriteError(
            f"could not write a checkpoint into {directory} ({_reason(reason)}); free some "
            "space, or run without -checkpoint_iter"
        ) from None
    _remove(directory, lambda entry: entry != _LATEST and not entry.startswith(name + "."))
    return prefix


def _reason(message: str) -> str:
    """The end of a TensorFlow error message (the operating system's reason), one line."""
    return " ".join(message.split()).rsplit(": ", 1)[-1][:120]


def _remove(directory: str, chosen) -> None:
    if not os.path.isdir(directory):
        return
    for entry in os.listdir(directory):
        if not chosen(entry):
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _fsync(path: str) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def find(config: StyleConfig) -> str:
    """The prefix of the checkpoint `-resume` continues from, checked against `config`.

    Raises:
        CheckpointError: there is none, it is unreadable, or other settings made it.
    """
    directory = checkpoint_dir(config.output_image)
    try:
        with open(os.path.join(directory, _LATEST)) as file:
            pointer = json.load(file)
        saved, name, done = pointer["settings"], pointer["prefix"], int(pointer["iteration"])
    except FileNotFoundError:
        raise CheckpointError(
            f"-resume: no checkpoint in {directory}; start a run with -checkpoint_iter N "
            "first, or leave out -resume"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(
            f"-resume: {os.path.join(directory, _LATEST)} is unreadable ({e}); delete "
            f"{directory} and start afresh"
        ) from None
    now = _settings(config)
    changed = [k for k in now if saved.get(k) != now[k]]
    if changed:
        details = "; ".join(f"-{k} was {saved.get(k)} and is now {now[k]}" for k in changed)
        raise CheckpointError(
            f"-resume: the checkpoint in {directory} was made with other settings ({details}); "
            f"use the same settings, or delete {directory} to start afresh"
        )
    if done > config.num_iterations:
        # Its image is already past the end of this run: resuming could not give this run's.
        raise CheckpointError(
            f"-resume: the checkpoint in {directory} has done {done} iterations, more than "
            f"-num_iterations {config.num_iterations}; give -num_iterations {done} or more, or "
            f"delete {directory} to start afresh"
        )
    return os.path.join(directory, name)


def restore(prefix: str, optimizer: optimizers.Optimizer) -> None:
    """Restores the optimizer's state from the checkpoint `prefix` names.

    Raises:
        CheckpointError: the files are damaged (a truncated .data file makes TensorFlow's reader
            fail with errors of many kinds) or hold another run's state.
    """
    try:
        tf.train.Checkpoint(optimizer=optimizer).read(prefix).assert_consumed()
    except Exception as e:  # noqa: BLE001 - whatever the reader raises, the checkpoint is unusable
        directory = os.path.dirname(prefix)
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise CheckpointError(
            f"-resume: the checkpoint in {directory} is damaged or does not fit this run "
            f"({reason}); delete {directory} to start afresh"
        ) from None
