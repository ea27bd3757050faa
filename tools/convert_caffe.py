"""Converts a Caffe model (.prototxt + .caffemodel) into tf_style's converted-model file.

    python tools/convert_caffe.py -proto_file VGG_ILSVRC_19_layers_deploy.prototxt \\
        -model_file VGG_ILSVRC_19_layers.caffemodel -output vgg19.tfstyle

`tf_style.caffe.load_model(None, output)` then maps the weights instead of parsing the
.caffemodel. On a bad input it prints one line to stderr and exits with status 1.
"""

from __future__ import annotations

import sys

from absl import flags

from tf_style import apps


def _define_flags() -> None:
    flags.DEFINE_string("proto_file", None, "The .prototxt; empty: the architecture of the "
                        ".caffemodel itself (as loadcaffe does).")  # fmt: skip
    flags.DEFINE_string("model_file", None, "The .caffemodel to convert.")
    flags.DEFINE_string("output", None, "The converted file to write.")
    flags.mark_flags_as_required(["model_file", "output"])


def main(argv: list[str]) -> int:
    """Runs the conversion with the parsed flags; returns the exit status."""
    if len(argv) > 1:
        print(f"convert_caffe: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    opts = flags.FLAGS
    from tf_style import caffe  # TensorFlow loads here, after the flags (-help is instant)

    try:
        model = caffe.convert(opts.proto_file or None, opts.model_file, opts.output)
    except caffe.CaffeError as e:
        print(f"convert_caffe: {e}", file=sys.stderr)
        return 1
    for note in model.caffe_notes:
        print(f"note: {note}")
    print(f"wrote {opts.output} ({len(model.layers)} layers)")
    return 0


if __name__ == "__main__":
    _define_flags()
    apps.run(lambda argv: sys.exit(main(argv)))
