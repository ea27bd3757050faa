"""Tests for tf_style.apps: -help, --help and -helpshort of every tool print the usage and exit 0
(absl exits 1).

Each request runs in a fresh process, as a user types it; they run side by side.
"""

import sys
from pathlib import Path

import pytest

from tf_style import apps
from tf_style.testing import processes

ROOT = Path(__file__).resolve().parents[1]

# tool -> (its command line without the help flag, a line of its docstring, one of its flags)
TOOLS = {
    "download_models": (processes.script(ROOT / "tools" / "download_models.py"),
                        "Downloads zoo models into the tf_style cache", "--cache_dir"),
    "convert_caffe": (processes.script(ROOT / "tools" / "convert_caffe.py"),
                      "Converts a Caffe model", "--model_file"),
    "export_savedmodel": (processes.script(ROOT / "tools" / "export_savedmodel.py"),
                          "Exports style transfer as a TensorFlow SavedModel", "--output"),
    "camera_move": (processes.script(ROOT / "tools" / "camera_move.py"),
                    "Makes a clip of a camera move over a still image", "--zoom"),
    # A module, run from the repository root as its docs say.
    "benchmark": ([sys.executable, "-m", "tools.benchmark"],
                  "Speed and memory of tf_style", "--peer_dir"),
}  # fmt: skip
REQUESTS = ("-help", "--help", "-helpshort")


@pytest.mark.slow
def test_every_tool_prints_its_usage_and_exits_0():
    started = {
        (tool, request): processes.start([*command, request])
        for tool, (command, _, _) in TOOLS.items()
        for request in REQUESTS
    }
    results = {key: processes.finish(p, timeout=240) for key, p in started.items()}
    for (tool, request), (code, out, err) in results.items():
        _, doc_line, flag = TOOLS[tool]
        assert code == 0, (tool, request, out, err)
        assert doc_line in out, (tool, request, out)
        assert flag in out, (tool, request, out)
        assert "Traceback" not in err, (tool, request, err)


def test_helpfull_lists_absl_flags_too_and_exits_0():
    code, out, err = processes.finish(
        processes.start([*TOOLS["download_models"][0], "--helpfull"]), timeout=120
    )
    assert code == 0, err
    assert "--cache_dir" in out and "--flagfile" in out  # absl's own flags: the full list


@pytest.mark.parametrize(
    "args,wanted",
    [
        (["-help"], "short"),
        (["-models", "nin", "--helpshort"], "short"),
        (["-?"], "short"),
        (["--helpfull"], "full"),
        (["-models", "nin"], None),
        (["--", "-help"], None),  # after --, a positional argument
        (["-helpxml"], None),  # absl's to answer
    ],
)
def test_help_wanted(args, wanted):
    assert apps.help_wanted(args) == wanted
