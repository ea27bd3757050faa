"""Fixtures of the batch tests: a CSV of three jobs and the batch that reads it."""

import pytest

from tf_style.config import StyleConfig

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
