"""tools/camera_move.py: a folder of frames of a camera move over a still image."""

import numpy as np
import pytest

from tf_style import video

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")


def test_camera_move_makes_frames_of_one_size(tmp_path):
    from pathlib import Path

    from tf_style.testing import processes

    root = Path(__file__).resolve().parents[2]
    tool = processes.script(root / "tools" / "camera_move.py")
    out = tmp_path / "move"
    result = processes.run(
        [*tool, "-image", root / "examples/inputs/tubingen.jpg", "-output", out, "-frames", "3",
         "-size", "48"]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    clip = video.open_clip(str(out))
    assert clip.count == 3 and max(clip.size) == 48
    first, _, last = video.frames(clip)
    assert np.abs(first - last).mean() > 0.05  # the camera moved
    bad = processes.run([*tool, "-output", out, "-window", "0.9", "-pan", "0.3"])
    assert bad.returncode == 2
