"""-jobs over a folder of clips: one clip per replica (tf_style/batch/clips.py)."""

import dataclasses

import numpy as np
import pytest

from tests.clipdata import square_frame, stylise, write_clip
from tf_style import image_io, video

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

# Two logical CPU devices in a fresh process: three clips over two replicas.
_REPLICAS = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
cpus = [d.name for d in tf.config.list_logical_devices("CPU")]

from tf_style import batch
from tf_style.batch import clips
from tf_style.config import StyleConfig
from tf_style.report import Reporter

config = StyleConfig(**json.loads(sys.argv[1]))
strategy = batch.make_strategy(config, Reporter(), devices=cpus)
results = clips.run_clip_jobs(config, strategy=strategy)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "clips": sorted(results)}))
"""


@pytest.mark.slow
def test_a_folder_of_clips_runs_one_clip_per_replica(clip_run, tmp_path):
    import json

    from tf_style.batch import clips
    from tf_style.testing import processes

    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mp4", [square_frame(t) for t in range(3)])
    write_clip(folder / "b.mp4", [square_frame(t)[::-1] for t in range(2)])
    write_clip(folder / "c.mp4", [square_frame(t)[:, ::-1] for t in range(2)])
    (tmp_path / "out").mkdir()
    batch = clip_run.replace(
        content_video="", jobs=str(folder), output_video=str(tmp_path / "out" / "s.mp4"),
        video_iterations=(12, 6), print_iter=0,
    )  # fmt: skip
    settings = {
        k: v for k, v in dataclasses.asdict(batch).items() if v != getattr(type(batch)(), k, None)
    }
    process = processes.start(
        processes.snippet(_REPLICAS, json.dumps(settings)), env={"TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    code, out, err = processes.finish(process, timeout=300)
    assert code == 0, err[-3000:]
    found = json.loads(out.strip().splitlines()[-1])
    assert found == {"replicas": 2, "clips": [0, 1, 2]}
    # Each clip's frames equal its own run, one clip after another on one device.
    for job in clips.read_clips(batch):
        alone = job.replace(output_video=job.output_video.replace(".mp4", "_alone.mp4"))
        stylise(alone)
        count = video.open_clip(job.content_video).count
        for t in range(1, count + 1):
            ours = image_io.read_image(video.frame_path(job.output_video, t))
            theirs = image_io.read_image(video.frame_path(alone.output_video, t))
            assert np.abs(ours - theirs).max() <= 2 / 255, (job.content_video, t)
        with av.open(job.output_video) as clip:
            assert sum(1 for _ in clip.decode(clip.streams.video[0])) == count
