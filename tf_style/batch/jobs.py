"""The jobs of a batch (`-jobs`): a CSV file of jobs, or a folder of content images.

Every job is a whole `StyleConfig`: the command line's options plus its own row's.
"""

from __future__ import annotations

import csv
import io
import os

from tf_style.config import StyleConfig
from tf_style.errors import ConfigError, JobError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
REQUIRED_COLUMNS = ("content_image", "style_image", "output_image")
# Optional per-job columns and how to read them; an empty cell keeps the command line's value.
OPTIONAL_COLUMNS = {
    "content_weight": float,
    "style_weight": float,
    "tv_weight": float,
    "style_blend_weights": str,
    "seed": int,
}
# Optional columns of files (relative to the CSV's folder; several comma-separated in one cell).
FILE_COLUMNS = (
    "style_masks",
    "style_image_masks",
    "content_mask",
    "content_regions",
    "style_regions",
)


def read_jobs(config: StyleConfig) -> list[StyleConfig]:
    """The batch's jobs, each a full StyleConfig (the command line's options plus its own).

    `config.jobs` is a CSV file (header with `REQUIRED_COLUMNS` and any of `OPTIONAL_COLUMNS`;
    relative paths are relative to the CSV's folder; several style images comma-separated in
    one quoted cell) or a folder of content images, each styled with `config.style_image` into
    `<output folder>/<content stem>_<output stem><output extension>`.

    Raises:
        JobError: a missing file or column, an unknown column, a bad value (naming its line),
            or two jobs writing the same output.
    """
    base = config.replace(jobs="", tpu="")
    if os.path.isdir(config.jobs):
        jobs = _folder_jobs(config.jobs, base)
    elif os.path.isfile(config.jobs):
        jobs = _csv_jobs(config.jobs, base)
    else:
        raise JobError(
            f"-jobs {config.jobs}: no such file or folder; give a CSV file or a folder of "
            "content images"
        )
    if not jobs:
        raise JobError(f"-jobs {config.jobs}: no jobs in it; add rows or images")
    outputs = [os.path.abspath(job.output_image) for job in jobs]
    twice = sorted({o for o in outputs if outputs.count(o) > 1})
    if twice:
        raise JobError(f"-jobs {config.jobs}: several jobs write {twice[0]}; give each its own")
    return jobs


def _folder_jobs(folder: str, base: StyleConfig) -> list[StyleConfig]:
    out_dir = os.path.dirname(base.output_image)
    out_stem, out_ext = os.path.splitext(os.path.basename(base.output_image))
    jobs = []
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS:
            output = os.path.join(out_dir, f"{stem}_{out_stem}{out_ext}")
            jobs.append(base.replace(content_image=os.path.join(folder, name), output_image=output))
    return jobs


def _csv_jobs(path: str, base: StyleConfig) -> list[StyleConfig]:
    folder = os.path.dirname(os.path.abspath(path))

    def resolve(value: str) -> str:
        return os.path.join(folder, value.strip())

    with open(path, "rb") as file:
        data = file.read()
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise JobError(
            f"-jobs {path} line {line}: byte 0x{data[e.start]:02x} is not UTF-8 text; save the "
            'file as UTF-8 ("CSV UTF-8" in a spreadsheet)'
        ) from None
    return _rows(path, csv.DictReader(io.StringIO(text, newline="")), resolve, base)


def _rows(path: str, reader: csv.DictReader, resolve, base: StyleConfig) -> list[StyleConfig]:
    """The jobs of a CSV file's rows, each checked for its cells."""
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, *FILE_COLUMNS)
    unknown = [c for c in columns if c not in known]
    if missing or unknown:
        problem = f"lacks the column {missing[0]}" if missing else f"has a column {unknown[0]}"
        raise JobError(
            f"-jobs {path} {problem}; its columns are {','.join(REQUIRED_COLUMNS)} and "
            f"optionally {','.join((*OPTIONAL_COLUMNS, *FILE_COLUMNS))}"
        )
    jobs = []
    for row in reader:
        where = f"-jobs {path} line {reader.line_num}"
        if None in row or None in row.values():  # extra cells, or missing ones
            cells = len(row.get(None, [])) + sum(v is not None for k, v in row.items() if k)
            raise JobError(
                f"{where} has {cells} cells and the header {len(columns)}; give one cell per "
                "column (an empty cell keeps the command line's value)"
            )
        empty = [c for c in REQUIRED_COLUMNS if not row[c].strip()]
        if empty:
            raise JobError(f"{where}: the {empty[0]} cell is empty; every job needs one")
        changes = {
            "content_image": resolve(row["content_image"]),
            "style_image": ",".join(resolve(s) for s in row["style_image"].split(",")),
            "output_image": resolve(row["output_image"]),
        }
        for column in FILE_COLUMNS:
            if (row.get(column) or "").strip():
                changes[column] = ",".join(resolve(v) for v in row[column].split(","))
        try:
            for column, kind in OPTIONAL_COLUMNS.items():
                if (row.get(column) or "").strip():
                    changes[column] = kind(row[column].strip())
            jobs.append(base.replace(**changes))
        except (ConfigError, ValueError) as e:
            raise JobError(f"{where}: {e}") from None
    return jobs
