"""The Caffe import's steps, each run alone in a fresh process by caffe_import.py.

    python -m tools.benchmark.caffe_steps STEP MODEL PROTO CONVERTED

prints the step's seconds and the process's peak resident memory in bytes. Every step imports
tf_style.caffe first; `baseline` does nothing more (0 seconds), its peak is what the steps are
measured above. What a step made is kept until the process ends: its teardown is not timed.
"""

from __future__ import annotations

import sys
import time

from tools.benchmark.measure import hwm


def parse(model: str, proto: str, converted: str):
    """Structure plus zero-copy views of every blob, then one pass over all weights, so that
    the whole file really is read (views alone would leave it on disk)."""
    from tf_style.caffe import wire
    from tf_style.caffe.netspec import net_from_message

    t = time.perf_counter()
    net = net_from_message(wire.read_file(model), model)
    checksum = sum(float(b.data.sum()) for s in net.layers for b in s.blobs)
    return time.perf_counter() - t, (net, checksum)


def parse_structure_only(model: str, proto: str, converted: str):
    from tf_style.caffe import wire
    from tf_style.caffe.netspec import net_from_message

    t = time.perf_counter()
    net = net_from_message(wire.read_file(model), model)
    return time.perf_counter() - t, net


def read_converted(model: str, proto: str, converted: str):
    from tf_style.caffe import converted as converted_file

    t = time.perf_counter()
    net, weights = converted_file.read(converted)
    checksum = sum(float(a.sum()) for arrays in weights.values() for a in arrays)
    return time.perf_counter() - t, (net, weights, checksum)


def load_model_caffemodel(model: str, proto: str, converted: str):
    from tf_style.caffe import load_model

    t = time.perf_counter()
    keras_model = load_model(proto, model)
    return time.perf_counter() - t, keras_model


def load_model_converted(model: str, proto: str, converted: str):
    from tf_style.caffe import load_model

    t = time.perf_counter()
    keras_model = load_model(None, converted)
    return time.perf_counter() - t, keras_model


def baseline(model: str, proto: str, converted: str):
    return 0.0, None


# In the order caffe_import.py reports them.
STEPS = {
    step.__name__: step
    for step in (
        parse,
        parse_structure_only,
        read_converted,
        load_model_caffemodel,
        load_model_converted,
    )
}


def main(argv: list[str]) -> None:
    import tf_style.caffe  # noqa: F401  (in the baseline too)

    step = baseline if argv[0] == "baseline" else STEPS[argv[0]]
    seconds, kept = step(*argv[1:4])
    print(seconds, hwm())
    del kept


if __name__ == "__main__":
    main(sys.argv[1:])
