"""Downloads zoo models into the tf_style cache (the successor of the original download_models.sh).

    python tools/download_models.py                       # VGG-19, the default model
    python tools/download_models.py -models vgg19,nin     # several
    python tools/download_models.py -models all -cache_dir /data/tf_style

Files are verified (size and checksum where published) before they get their final names, an
interrupted download resumes where it stopped, and Caffe models are then converted once
(-noconvert skips that). A file already in the cache, also one put there by hand, is kept.
Exit code 0: everything is in the cache; 1: a download failed (stderr says first where to put
the file by hand, then which URLs failed and why); 2: bad flags.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

from tf_style import apps, models, report

FLAGS = flags.FLAGS


def _define_flags() -> None:
    flags.DEFINE_list(
        "models", ["vgg19"], f"Zoo models to fetch, or 'all': {', '.join(models.ZOO)}."
    )
    flags.DEFINE_string(
        "cache_dir", None, "Cache folder (default: $TF_STYLE_HOME, else ~/.cache/tf_style)."
    )
    flags.DEFINE_list(
        "url",
        None,
        "Mirrors of your own for the weights file, tried in order; only with a single -models.",
    )
    flags.DEFINE_bool(
        "convert",
        True,
        "Also convert Caffe models once into the cache, so that runs skip parsing the .caffemodel.",
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}", exitcode=2)
    names = list(models.ZOO) if FLAGS.models == ["all"] else FLAGS.models
    unknown = [n for n in names if n not in models.ZOO]
    if unknown:
        raise app.UsageError(
            f"-models: unknown {', '.join(unknown)}; choose from {', '.join(models.ZOO)} or all",
            exitcode=2,
        )
    if FLAGS.url and len(names) != 1:
        raise app.UsageError("-url needs exactly one model in -models", exitcode=2)
    if FLAGS.cache_dir:
        os.environ["TF_STYLE_HOME"] = FLAGS.cache_dir
    for name in names:
        try:
            path = models.fetch_model(
                name, progress=report.text_progress(sys.stderr, name), urls=FLAGS.url
            )
            if FLAGS.convert and not name.startswith("keras:"):
                path = models.resolve(name).model_path  # the files are cached: converts only
        except (models.DownloadError, ValueError) as e:
            # ValueError: ModelError (a truncated cached file) or CaffeError (conversion).
            sys.stderr.write(f"download_models: {name}: {e}\n")
            sys.exit(1)
        print(f"{name}: {path}")


if __name__ == "__main__":
    _define_flags()
    apps.run(main)
