"""`-checkpoint_iter` and `-resume`: the optimizer's whole state, saved so a kill loses nothing."""

from __future__ import annotations

import json
import os
import secrets
import shutil

import tensorflow as tf

from tf_style import fileio, optimizers
from tf_style.config import CHECKPOINT, StyleConfig, settings
from tf_style.errors import CheckpointError

_LATEST = "latest.json"


def checkpoint_dir(output_image: str) -> str:
    """Where `-checkpoint_iter` saves and `-resume` looks: `dir/out.png` -> `dir/out.ckpt`."""
    return os.path.splitext(output_image)[0] + ".ckpt"


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
    os.makedirs(directory, exist_ok=True)
    name = f"ckpt-{optimizer.iterations}-{secrets.token_hex(4)}"
    prefix = tf.train.Checkpoint(optimizer=optimizer).write(os.path.join(directory, name))
    for entry in os.listdir(directory):
        if entry.startswith(name + "."):
            _fsync(os.path.join(directory, entry))
    pointer = {"prefix": name, "iteration": optimizer.iterations, "settings": _settings(config)}
    fileio.write_atomically(os.path.join(directory, _LATEST), json.dumps(pointer))
    for entry in os.listdir(directory):
        if entry != _LATEST and not entry.startswith(name + "."):
            path = os.path.join(directory, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    return prefix


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
        saved, name = pointer["settings"], pointer["prefix"]
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
    return os.path.join(directory, name)


def restore(prefix: str, optimizer: optimizers.Optimizer) -> None:
    try:
        tf.train.Checkpoint(optimizer=optimizer).read(prefix).assert_consumed()
    except (tf.errors.OpError, AssertionError, ValueError) as e:
        directory = os.path.dirname(prefix)
        raise CheckpointError(
            f"-resume: the checkpoint in {directory} does not fit this run "
            f"({' '.join(str(e).split())[:200]}); delete {directory} to start afresh"
        ) from None
