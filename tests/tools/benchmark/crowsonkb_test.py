"""Tests for tools/benchmark/crowsonkb.py and peers/crowsonkb.py: commands and parsers only.

Nothing is run or timed: the comparison itself needs the peer's checkout and a torch venv.
"""

from pathlib import Path

import pytest
from absl import flags

from tf_style import cli
from tools.benchmark import crowsonkb

# What GNU time -v writes (abridged; the field names are GNU time's).
TIME_V = """\
\tCommand being timed: "python -m style_transfer.cli a.jpg b.jpg"
\tUser time (seconds): 52.19
\tPercent of CPU this job got: 190%
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.5
\tAverage resident set size (kbytes): 0
\tMaximum resident set size (kbytes): 1831860
\tExit status: 0
"""


def test_parse_time_v():
    parsed = crowsonkb.parse_time_v(TIME_V)
    assert parsed == {"peak_rss": 1831860 * 1024, "elapsed_s": 3723.5, "exit_status": 0}
    short = TIME_V.replace("1:02:03.5", "0:48.91")
    assert crowsonkb.parse_time_v(short)["elapsed_s"] == pytest.approx(48.91)


def test_iterations_scale_every_default_alike():
    assert crowsonkb.iterations(1000, 1.0) == 1000
    assert crowsonkb.iterations(150, 0.02) == 3
    assert crowsonkb.iterations(500, 0.0001) == 1  # never none


def test_peer_command_is_its_cli_with_its_defaults_but_size_and_iterations():
    command = crowsonkb.peer_command("py", "c.jpg", "s.jpg", Path("/o/p.png"), 512, 0.02)
    assert command[:5] == ["py", "-m", "style_transfer.cli", "c.jpg", "s.jpg"]
    options = dict(zip(command[5::2], command[6::2]))
    assert options == {
        "--output": "/o/p.png",
        "--devices": "cpu",
        "--end-scale": "512",
        "--initial-iterations": "20",
        "--iterations": "10",
    }


def parse(args):
    """The config our CLI makes of `args`, parsed by its real flags."""
    values = flags.FlagValues()
    cli.define_flags(values)
    values(["tf-style", *args])
    return cli.config_from_flags(values)


def test_ours_args_parse_to_the_peers_scales_and_iterations():
    adam = crowsonkb.ours_args(
        "ours_adam", "c.jpg", "s.jpg", Path("o.png"), Path("m.tfstyle"), 512, 0.02
    )
    config = parse(adam)
    assert config.scales == (128, 181, 256, 362, 512)
    assert config.scale_iterations == (20, 10, 10, 10, 10)
    assert config.optimizer == "adam" and config.model_file == "m.tfstyle"
    quality = crowsonkb.ours_args(
        "ours_quality", "c.jpg", "s.jpg", Path("o.png"), Path("m.tfstyle"), 512, 0.02
    )
    config = parse(quality)
    # The preset's own options stay; its size, model, images and iterations are replaced.
    assert config.style_loss == "w2" and config.padding == "replicate"
    assert config.scales == (128, 181, 256, 362, 512) and config.num_iterations == 3
    assert config.content_image == "c.jpg" and config.model_file == "m.tfstyle"


def test_timed_command():
    assert crowsonkb.timed(["a", "b"], Path("x.time")) == [
        "/usr/bin/time", "-v", "-o", "x.time", "a", "b"
    ]  # fmt: skip


def test_peer_scales_from_its_trace():
    def it(w, h, i, t):
        return {"w": w, "h": h, "i": i, "i_max": 3, "loss": 1.0, "time": t, "gpu_ram": 0}

    trace = {
        "iterates": [
            it(128, 96, 1, 10.0), it(128, 96, 2, 11.0), it(128, 96, 3, 13.0),
            it(181, 136, 1, 20.0), it(181, 136, 2, 24.0),
        ]
    }  # fmt: skip
    assert crowsonkb.peer_scales(trace) == [
        {"w": 128, "h": 96, "iterations": 3, "s_per_iteration": 1.5},
        {"w": 181, "h": 136, "iterations": 2, "s_per_iteration": 4.0},
    ]


def test_ours_scales_from_its_output():
    out = "Scale 1 / 2: 128 px, 20 iterations\nconv1_1: 64 3 3 3\n"
    out += "Scale 2 / 2: 181 px, 10 iterations\n"
    assert crowsonkb.ours_scales(out) == [
        {"size": 128, "iterations": 20},
        {"size": 181, "iterations": 10},
    ]


def test_ratios_and_summary():
    jobs = [
        {"name": n, "round": r, "wall_s": w, "peak_rss": m, "scales": []}
        for r, (a, q, p) in enumerate([(1.0, 2.0, 4.0), (3.0, 3.0, 4.0)])
        for n, w, m in (("ours_adam", a, 1), ("ours_quality", q, 2), ("peer", p, 4))
    ]
    walls = crowsonkb.ratios(jobs, "wall_s")
    assert walls["ours_adam"] == {"rounds": [0.25, 0.75], "median": 0.5}
    assert walls["ours_quality"]["median"] == pytest.approx(0.625)
    result = {"size": 512, "jobs": jobs, "wall_ratio": walls,
              "memory_ratio": crowsonkb.ratios(jobs, "peak_rss")}  # fmt: skip
    text = "\n".join(crowsonkb.summary(result))
    assert "wall time ours_adam / peer: 0.50x (0.25, 0.75)" in text
    assert "peak memory ours_quality / peer: 0.50x" in text
