"""Tests for tf_style.batch.jobs: a batch from a CSV file or a folder, and its errors."""

import os

import pytest

from tf_style import batch, errors
from tf_style.config import ConfigError, StyleConfig


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


HEADER = "content_image,style_image,output_image,seed\n"


@pytest.mark.parametrize(
    "row, message",
    [
        ("c.png,s.png\n", "line 2 has 2 cells and the header 4; give one cell per column"),
        ("c.png,s.png,o.png,1,2\n", "line 2 has 5 cells and the header 4"),
        ("c.png,,o.png,1\n", "line 2: the style_image cell is empty; every job needs one"),
        (" ,s.png,o.png,\n", "line 2: the content_image cell is empty"),
    ],
)
def test_each_row_needs_one_cell_per_column_and_its_images(base, tmp_path, row, message):
    path = tmp_path / "rows.csv"
    path.write_text(HEADER + row)
    with pytest.raises(errors.JobError) as info:
        batch.read_jobs(base.replace(jobs=str(path)))
    assert str(info.value).startswith(f"-jobs {path} {message}")
    assert "\n" not in str(info.value)


def test_a_csv_must_be_utf8_and_may_open_with_a_byte_order_mark(base, images, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + "caf\xe9.png,s.png,o.png,1\n".encode("latin-1"))
    with pytest.raises(errors.JobError) as info:
        batch.read_jobs(base.replace(jobs=str(latin)))
    assert str(info.value) == (
        f"-jobs {latin} line 2: byte 0xe9 is not UTF-8 text; save the file as UTF-8 "
        '("CSV UTF-8" in a spreadsheet)'
    )
    marked = tmp_path / "marked.csv"
    row = f"{images['content']},{images['style1']},o.png,7\n"
    marked.write_bytes(b"\xef\xbb\xbf" + (HEADER + row).encode())
    (job,) = batch.read_jobs(base.replace(jobs=str(marked)))
    assert (job.content_image, job.seed) == (str(images["content"]), 7)
