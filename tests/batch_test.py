"""Batches of jobs (-jobs) over tf.distribute replicas: each result equals its sequential run.

Several replicas need several devices, configured before TensorFlow starts, or several worker
processes; those tests run in fresh Python processes.
"""

import json
import os
import socket
import subprocess
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf

from tf_style import batch, errors, stylizer
from tf_style.config import ConfigError, StyleConfig
from tf_style.report import Reporter
from tf_style.testing import processes

ITERATIONS = 21  # two chunks of the optimizer (stylizer.MAX_CHUNK is 20)


@pytest.fixture
def jobs_csv(images, tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(
        "content_image,style_image,output_image,style_weight,seed\n"
        f"{images['content']},{images['style1']},a.png,,1\n"
        f"{images['style2']},{images['style1']},b.png,50,2\n"
        f'{images["content"]},"{images["style1"]},{images["style2"]}",c.png,,3\n'
    )
    return path


@pytest.fixture
def base(tiny_vgg, images, jobs_csv, tmp_path):
    proto, model = tiny_vgg
    return StyleConfig(
        style_image=str(images["style2"]),
        model_file=str(model),
        proto_file=str(proto),
        image_size=32,
        num_iterations=ITERATIONS,
        print_iter=0,
        save_iter=0,
        output_image=str(tmp_path / "out.png"),
        gpu=-1,
        seed=5,
        jobs=str(jobs_csv),
    )


def test_csv_jobs(base, images, tmp_path):
    jobs = batch.read_jobs(base)
    assert [j.output_image for j in jobs] == [
        str(tmp_path / n) for n in ("a.png", "b.png", "c.png")
    ]
    assert jobs[1].content_image == str(images["style2"])
    assert jobs[2].style_image == (str(images["style1"]), str(images["style2"]))
    assert [j.style_weight for j in jobs] == [100.0, 50.0, 100.0]  # empty cell: the default
    assert [j.seed for j in jobs] == [1, 2, 3]
    assert all(j.jobs == "" and j.image_size == 32 for j in jobs)


def test_folder_jobs(base, images, tmp_path):
    jobs = batch.read_jobs(base.replace(jobs=str(images["content"].parent)))
    assert [os.path.basename(j.content_image) for j in jobs] == [
        "content.png",
        "style1.png",
        "style2.png",
    ]
    assert [j.output_image for j in jobs] == [
        str(tmp_path / f"{n}_out.png") for n in ("content", "style1", "style2")
    ]
    assert all(j.style_image == (str(images["style2"]),) for j in jobs)


@pytest.mark.parametrize(
    "text, message",
    [
        ("content_image,style_image\nc.png,s.png\n", "lacks the column output_image"),
        ("content_image,style_image,output_image,color\n", "has a column color"),
        ("content_image,style_image,output_image,seed\nc.png,s.png,o.png,x\n", "line 2: invalid"),
        ("content_image,style_image,output_image\nc.png,s.png,o\n", "line 2: -output_image"),
        ("content_image,style_image,output_image\nc.png,s.png,o.png\nd.png,s.png,o.png\n", "sev"),
        ("content_image,style_image,output_image\n", "no jobs"),
    ],
)
def test_bad_jobs_files(base, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(errors.JobError, match=message):
        batch.read_jobs(base.replace(jobs=str(path)))


def test_jobs_options():
    with pytest.raises(errors.JobError, match="no such file or folder"):
        batch.read_jobs(StyleConfig(jobs="/nonexistent/jobs.csv"))
    with pytest.raises(ConfigError, match="-tpu runs a batch of jobs; give -jobs"):
        StyleConfig(tpu="local")
    with pytest.raises(errors.JobError, match="tfp_lbfgs is for single runs"):
        batch.run_jobs(StyleConfig(jobs="x.csv", optimizer="tfp_lbfgs"))


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
from tf_style.testing import processes

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


def _python(script: str, *args: str, env=None) -> subprocess.Popen:
    env = {**(env or {}), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return processes.start(processes.snippet(script, *args), env=env)


def _run_script(script: str, base: StyleConfig, tmp_path):
    """Runs `script` on the batch `base` in a fresh process; (results folder, its last line)."""
    folder = tmp_path / "results"
    folder.mkdir()
    process = _python(script, _settings(base), str(folder))
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
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
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
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
