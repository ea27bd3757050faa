"""Tests for tf_style.batch.distribute: jobs over tf.distribute replicas equal sequential runs.

Several replicas need several devices, configured before TensorFlow starts, or several worker
processes; those tests run in fresh Python processes (tf_style.testing.processes).
"""

import json
import os
import socket
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tf_style import batch, stylizer
from tf_style.config import StyleConfig
from tf_style.report import Reporter
from tf_style.testing import processes


def test_tpu_strategy_is_configured_in_order():
    calls = []
    resolver = object()
    with (
        mock.patch.object(
            tf.distribute.cluster_resolver,
            "TPUClusterResolver",
            side_effect=lambda tpu: calls.append(("resolve", tpu)) or resolver,
        ),
        mock.patch.object(
            tf.config,
            "experimental_connect_to_cluster",
            side_effect=lambda r: calls.append(("connect", r)),
        ),
        mock.patch.object(
            tf.tpu.experimental,
            "initialize_tpu_system",
            side_effect=lambda r: calls.append(("initialize", r)),
        ),
        mock.patch.object(
            tf.distribute, "TPUStrategy", side_effect=lambda r: calls.append(("strategy", r))
        ),
        mock.patch.object(tf.distribute, "MultiWorkerMirroredStrategy") as multi,
        mock.patch.dict(os.environ, {"TF_CONFIG": '{"cluster": {}}'}),
    ):
        batch.make_strategy(StyleConfig(jobs="j.csv", tpu="grpc://10.0.0.2:8470"), Reporter())
        assert calls == [
            ("resolve", "grpc://10.0.0.2:8470"),
            ("connect", resolver),
            ("initialize", resolver),
            ("strategy", resolver),
        ]
        multi.assert_not_called()  # -tpu wins over TF_CONFIG
        batch.make_strategy(StyleConfig(jobs="j.csv"), Reporter())
        multi.assert_called_once_with()


def test_mirrored_strategy_over_the_listed_devices():
    strategy = batch.make_strategy(StyleConfig(jobs="j.csv", gpu=-1), Reporter())
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.extended.worker_devices == ("/job:localhost/replica:0/task:0/device:CPU:0",)


def _sequential(jobs):
    return [stylizer.run(job.replace(output_image=job.output_image + ".seq.png")) for job in jobs]


# Runs in a fresh process with 2 logical CPU devices, then tries a TPU where there is none.
_MIRRORED = """
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]

from tf_style import batch
from tf_style.config import StyleConfig
from tf_style.devices import DeviceError
from tf_style.report import Reporter

config = StyleConfig(**json.loads(sys.argv[1]))
strategy = batch.make_strategy(config, Reporter(), devices=cpus)
results = batch.run_jobs(config, strategy=strategy)
for i, image in results.items():
    np.save(f"{sys.argv[2]}/job{i}.npy", image)
try:
    batch.tpu_strategy("local")
    tpu = "no error"
except DeviceError as e:
    tpu = str(e)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "tpu": tpu}))
"""


def _settings(config: StyleConfig) -> str:
    keys = ("style_image", "model_file", "proto_file", "image_size", "num_iterations", "seed",
            "optimizer")  # fmt: skip
    values = {k: getattr(config, k) for k in keys}
    values.update(jobs=config.jobs, output_image=config.output_image, print_iter=0, save_iter=0)
    return json.dumps(values)


def _python(script: str, *args: str, env=None):
    """Starts `script` in a fresh process (a `subprocess.Popen`), TensorFlow's log quiet."""
    env = {**(env or {}), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return processes.start(processes.snippet(script, *args), env=env)


def _run_script(script: str, base: StyleConfig, tmp_path):
    """Runs `script` on the batch `base` in a fresh process; (results folder, its last line)."""
    folder = tmp_path / "results"
    folder.mkdir()
    code, out, err = processes.finish(_python(script, _settings(base), str(folder)), timeout=300)
    assert code == 0, err[-3000:]
    return folder, json.loads(out.strip().splitlines()[-1])


def _check_results(folder, jobs, atol=1e-5):
    for i, expected in enumerate(_sequential(jobs)):
        found = np.load(folder / f"job{i}.npy")
        np.testing.assert_allclose(found, expected, rtol=0, atol=atol)
        assert os.path.exists(jobs[i].output_image)


@pytest.mark.slow
def test_mirrored_replicas_equal_sequential_runs(base, tmp_path):
    folder, found = _run_script(_MIRRORED, base, tmp_path)
    assert found["replicas"] == 2
    # 3 jobs of 3 sizes on 2 replicas: two waves, the second with one job.
    _check_results(folder, batch.read_jobs(base))
    assert found["tpu"].startswith("-tpu local: no TPU reachable (")
    assert "leave out -tpu" in found["tpu"] and "\n" not in found["tpu"]


@pytest.mark.slow
def test_mirrored_replicas_with_adam_equal_sequential_runs(base, tmp_path):
    # Each replica takes its own Adam step: Keras' apply_gradients would sum the gradients over
    # the replicas, a merge_call that fails inside a replica's traced chunk.
    # Adam's early steps are close to learning_rate * sign(g), so where a gradient is near 0 the
    # float rounding of the replica's traced graph moves a pixel a little more (3e-5 measured).
    base = base.replace(optimizer="adam")
    folder, _ = _run_script(_MIRRORED, base, tmp_path)
    _check_results(folder, batch.read_jobs(base), atol=1e-4)


_WORKER = """
import json, sys
import numpy as np
from tf_style import batch
from tf_style.config import StyleConfig

results = batch.run_jobs(StyleConfig(**json.loads(sys.argv[1])))
for i, image in results.items():
    np.save(f"{sys.argv[2]}/job{i}.npy", image)
print(json.dumps(sorted(results)))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_equal_sequential_runs(base, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    workers = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {"TF_CONFIG": json.dumps(tf_config)}
        workers.append(_python(_WORKER, _settings(base), str(folder), env=env))
    ran = []
    for process in workers:
        code, out, err = processes.finish(process, timeout=300)
        assert code == 0, err[-3000:]
        ran.append(json.loads(out.strip().splitlines()[-1]))
    assert ran == [[0, 2], [1]]  # job i on replica i mod 2: worker 0 runs jobs 0 and 2
    _check_results(folder, batch.read_jobs(base))


# A TPUStrategy stand-in whose "cores" are 2 logical CPU devices: the TPU path places each
# job's XLA-compiled chunk on its core by hand and never calls strategy.run.
_TPU_CORES = """
import json, sys
from unittest import mock
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
cores = tuple(d.name for d in tf.config.list_logical_devices("CPU"))

from tf_style import batch
from tf_style.config import StyleConfig

strategy = mock.Mock(spec=tf.distribute.TPUStrategy)
strategy.extended.worker_devices = cores
strategy.num_replicas_in_sync = len(cores)
results = batch.run_jobs(StyleConfig(**json.loads(sys.argv[1])), strategy=strategy)
for i, image in results.items():
    np.save(f"{sys.argv[2]}/job{i}.npy", image)
strategy.run.assert_not_called()
print(json.dumps(sorted(results)))
"""


@pytest.mark.slow
def test_tpu_cores_run_compiled_jobs_equal_to_sequential_runs(base, tmp_path):
    folder, ran = _run_script(_TPU_CORES, base, tmp_path)
    assert ran == [0, 1, 2]
    # On a TPU every job is compiled: the same as a sequential -jit run.
    _check_results(folder, [job.replace(jit=True) for job in batch.read_jobs(base)])
