"""tools/export_savedmodel.py: a SavedModel that stylises like the library, without tf_style."""

import importlib.util
import textwrap
from pathlib import Path

import numpy as np
import pytest
from absl import flags

from tf_style import stylizer
from tf_style.config import StyleConfig
from tf_style.testing import processes

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "export_savedmodel.py"

# Loads the SavedModel in a process that never imports tf_style, runs it on the saved inputs
# (once more at another size), and saves the outputs.
SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    folder = sys.argv[1]
    serve = tf.saved_model.load(folder + "/model").signatures["serving_default"]
    content, style = np.load(folder + "/content.npy"), np.load(folder + "/style.npy")
    image = serve(content=tf.constant(content), style=tf.constant(style),
                  iterations=tf.constant(5, tf.int32))["image"]
    np.save(folder + "/image.npy", image.numpy())
    other = serve(content=tf.constant(content[:20, :25]), style=tf.constant(style[5:, :30]),
                  iterations=tf.constant(2, tf.int32))["image"]
    np.save(folder + "/other.npy", other.numpy())
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("tf_style", "tools")))
    """
)


@pytest.mark.slow
def test_savedmodel_matches_the_library_without_tf_style(tiny_vgg, images, tmp_path, monkeypatch):
    proto, model = tiny_vgg
    # -init image: no randomness; a ring of 3 pairs that wraps within 5 iterations (4 pairs).
    config = StyleConfig(
        content_image=str(images["content"]),
        style_image=str(images["style1"]),
        model_file=str(model),
        proto_file=str(proto),
        image_size=32,
        init="image",
        num_iterations=5,
        lbfgs_num_correction=3,
        content_layers="relu2_2,relu4_2",
        style_weight=300.0,
        print_iter=0,
        save_iter=0,
        output_image=str(tmp_path / "library.png"),
        gpu=-1,
    )
    exported = processes.run(
        processes.script(
            TOOL,
            f"-model_file={model}",
            f"-proto_file={proto}",
            "-content_layers=relu2_2,relu4_2",
            "-style_weight=300",
            "-lbfgs_num_correction=3",
            f"-output={tmp_path / 'model'}",
        ),
        timeout=300,
    )
    assert exported.returncode == 0, exported.stderr
    content, styles = stylizer.load_images(config)
    np.save(tmp_path / "content.npy", content.astype(np.float32))
    np.save(tmp_path / "style.npy", styles[0].astype(np.float32))
    served = processes.run(processes.snippet(SERVE, tmp_path), timeout=300)
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip().splitlines()[-1] == "[]"  # no tf_style module was imported

    # The library sees the same float32 pixels as the SavedModel.
    rounded = content.astype(np.float32), [styles[0].astype(np.float32)]
    monkeypatch.setattr(stylizer, "load_images", lambda *args, **kwargs: rounded)
    want = np.clip(stylizer.run(config), 0, 1)
    image = np.load(tmp_path / "image.npy")
    assert image.shape == want.shape == content.shape
    assert np.abs(want - content).max() > 0.01  # the optimisation moved the image
    np.testing.assert_allclose(image, want, atol=1e-4)
    assert np.load(tmp_path / "other.npy").shape == (20, 25, 3)


def test_unknown_layer_is_a_one_line_usage_error(tiny_vgg, tmp_path, capsys):
    proto, model = tiny_vgg
    spec = importlib.util.spec_from_file_location("export_savedmodel", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    values = flags.FlagValues()
    tool.define_flags(values)
    argv = [
        "export_savedmodel",
        f"-model_file={model}",
        f"-proto_file={proto}",
        "-style_layers=relu1_1,nope",
        f"-output={tmp_path / 'model'}",
    ]
    assert tool.main(values(argv), values) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("export_savedmodel: -style_layers:") and "no layer 'nope'" in err
    assert not (tmp_path / "model").exists()
