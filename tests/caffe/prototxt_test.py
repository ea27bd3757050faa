"""Tests for tf_style.caffe.prototxt: the text-format reader's errors."""

from __future__ import annotations

import pytest

from tf_style.caffe import CaffeError
from tf_style.caffe.prototxt import parse_text


@pytest.mark.parametrize(
    "text,message",
    [
        ('layer { name: "a" type: "ReLU" ', "missing '}'"),
        ('layer { name: "a" type: "Pooling" pooling_param { pool: MEDIAN } }', "MEDIAN"),
        ('layer { name: "a" convolution_param { num_output: "x" } }', "num_output"),
        ('layer { name: "a" @ }', ":1: unexpected character"),
        ('name: "only a name"', "no 'layer'"),
    ],
)
def test_bad_prototxt_gives_one_clear_error(text, message):
    with pytest.raises(CaffeError, match=message):
        parse_text(text, "bad.prototxt")
