"""The video options' checks (tf_style/config/video.py, config/validate.py)."""

import pytest


@pytest.mark.parametrize(
    "options,needle",
    [
        ({"output_video": "a.png"}, "-output_video 'a.png' needs one of the extensions"),
        ({"resume": True}, "leave out -resume and -checkpoint_iter"),
        ({"checkpoint_iter": 5}, "leave out -resume and -checkpoint_iter"),
        ({"jobs": "clips"}, "give -jobs a folder of clips"),
        ({"tile_size": 256}, "leave out -tile_size"),
    ],
)
def test_options_that_do_not_go_with_a_clip_are_refused(options, needle):
    from tf_style.config import StyleConfig
    from tf_style.errors import ConfigError

    with pytest.raises(ConfigError, match=needle):
        StyleConfig(content_video="a.mp4", **options)
    StyleConfig(**options)  # each is fine without a clip


def test_video_iterations_read_as_the_cli_gives_them():
    from tf_style.config import StyleConfig

    assert StyleConfig(content_video="a.mp4", video_iterations="10,5").video_iterations == (10, 5)
