"""Net description -> Keras functional model, one Keras layer per Caffe layer.

Caffe addresses data by blob name and lets layers work in place (a ReLU's top is its bottom), so
we keep a blob-name -> tensor map that in-place layers update, and name every Keras layer after
its Caffe layer: `conv4_2` is the convolution's output, `relu4_2` the same blob after the ReLU.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_style.caffe import layer_types
from tf_style.caffe.netspec import DATA_TYPES, SKIPPED_TYPES, CaffeError, LayerSpec, NetSpec, first


def _as_tensor(array: np.ndarray, share: bool):
    """A TF tensor holding `array`, with at most one copy.

    Keras would fill each variable with zeros and TF would then copy a numpy array twice into it
    (2.6 s for VGG-19's 575 MB). Through DLPack a tensor adopts a numpy buffer instead. With
    `share` (converted files: 64-byte aligned arrays in a private copy-on-write mapping) it adopts
    the mapped array itself, like `np.load(mmap_mode="c")`; otherwise we first copy into a fresh
    aligned buffer, so the model never points into a .caffemodel.
    """
    aligned = array.ctypes.data % 64 == 0 and array.flags.c_contiguous and array.flags.writeable
    if not (share and aligned and array.dtype == np.float32):
        flat = np.empty(array.size + 16, np.float32)
        start = (-flat.ctypes.data % 64) // 4
        owned = flat[start : start + array.size].reshape(array.shape)
        np.copyto(owned, array, casting="same_kind")
        array = owned
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


class _Preset(keras.initializers.Initializer):
    """Hands a prepared weight tensor to the variable the layer creates (used once, in build)."""

    def __init__(self, value, where: str):
        self.value, self.where = value, where

    def __call__(self, shape, dtype=None):
        if tuple(shape) != tuple(self.value.shape):
            raise CaffeError(
                f"{self.where}: weights have shape {tuple(self.value.shape)} but the layer needs "
                f"{tuple(shape)}"
            )
        return self.value


_INITIALIZERS = ("kernel_initializer", "bias_initializer")


def _count(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


class _Builder:
    def __init__(self, net: NetSpec, source: str, weights: dict | None, keep: bool):
        self.net = net
        self.source = source
        self.weights = weights  # Keras-layout arrays by layer name (converted files), or None.
        self.notes = list(net.notes)
        self.tensors: dict[str, object] = {}
        self.input = None
        self.pending_input: tuple[str, str, int | None] | None = None  # (layer, blob, channels)
        self.outputs: list = []
        self.consumed: set[int] = set()
        self.names: set[str] = set()
        self.keep = keep
        self.kept: dict[str, list[np.ndarray]] = {}  # Keras-layout weights, for converted files

    # --- helpers -------------------------------------------------------------------------

    def where(self, spec: LayerSpec) -> str:
        return f"{self.source}: layer {spec.name!r} ({spec.type})"

    def keras_name(self, spec: LayerSpec) -> str:
        name = spec.name
        if "/" in name:
            # Keras rejects '/' in layer names; this is the only renaming we do.
            name = name.replace("/", "_")
            self.notes.append(
                f"layer {spec.name!r} is named {name!r} in Keras ('/' is not allowed)"
            )
        if name in self.names:
            raise CaffeError(
                f"{self.where(spec)}: a second layer with this name; names must differ"
            )
        self.names.add(name)
        return name

    def make_input(self, name: str, blob: str, channels: int) -> None:
        if self.input is not None:
            raise CaffeError(
                f"{self.source}: a second input blob {blob!r}; only one-input nets are supported"
            )
        if not 0 < channels < 1 << 20:
            raise CaffeError(f"{self.source}: input {blob!r} has {channels} channels")
        name = name.replace("/", "_")
        others = {
            s.name.replace("/", "_")
            for s in self.net.layers
            if s.type not in DATA_TYPES and s.type != "Input"
        }
        if name in self.names or name in others:
            name += "_input"  # Keras names must be unique; the input gives way
        self.names.add(name)
        self.input = keras.Input((None, None, channels), name=name)
        self.tensors[blob] = self.input

    def bottom(self, spec: LayerSpec, i: int, channels_hint: int | None = None):
        if i >= len(spec.bottom):
            raise CaffeError(f"{self.where(spec)}: needs at least {i + 1} bottom blob(s)")
        blob = spec.bottom[i]
        if blob not in self.tensors:
            if self.input is not None:
                raise CaffeError(f"{self.where(spec)}: reads blob {blob!r}, which no layer makes")
            # No Input layer (a V1 net whose Data layer belongs to another phase, or a Data
            # layer without dims): the first unknown blob is the image.
            name, channels = blob, channels_hint or 3
            if self.pending_input and self.pending_input[1] == blob:
                name = self.pending_input[0]
                channels = self.pending_input[2] or channels
            self.make_input(name, blob, channels)
        t = self.tensors[blob]
        self.consumed.add(id(t))
        return t

    def blobs(self, spec: LayerSpec, n: int, names: str) -> None:
        """Checks the number of Caffe blobs (converted files are checked by shape in `add`)."""
        if self.weights is None and not spec.blobs:
            raise CaffeError(
                f"{self.where(spec)}: the caffemodel has no weights for this layer; use the "
                "prototxt that belongs to this caffemodel"
            )
        if self.weights is None and len(spec.blobs) != n:
            raise CaffeError(
                f"{self.where(spec)}: has {len(spec.blobs)} weight blob(s) but needs {n} "
                f"({names}); the prototxt and the caffemodel do not match"
            )

    def check_count(self, spec: LayerSpec, i: int, expected: tuple[int, ...]) -> np.ndarray:
        blob = spec.blobs[i]
        if blob.data.size != _count(expected):
            raise CaffeError(
                f"{self.where(spec)}: weight blob {i} has shape {tuple(blob.shape)} but the net "
                f"needs {tuple(expected)}; the prototxt and the caffemodel do not match"
            )
        return blob.data.reshape(expected).astype(np.float32, copy=False)

    def weight_size(self, spec: LayerSpec) -> int:
        """The value count of the first weight (the same in Caffe and Keras layout)."""
        if self.weights is not None:
            stored = self.weights.get(spec.name) or [np.zeros(0)]
            return stored[0].size
        return spec.blobs[0].data.size if spec.blobs else 0

    def add(self, spec: LayerSpec, layer, inputs, make_arrays=None) -> None:
        """Calls `layer` on `inputs`, sets its weights and records its output blobs.

        `make_arrays` computes the Keras-layout weights from the Caffe blobs; converted files
        hold them already.
        """
        arrays = None
        if make_arrays is not None:
            if self.weights is None:
                arrays = make_arrays()
            else:
                arrays = self.weights.get(spec.name)
                if arrays is None or len(arrays) > len(_INITIALIZERS):
                    raise CaffeError(
                        f"{self.where(spec)}: the converted file has no weights for it"
                    )
            # Each weighted layer creates its kernel and bias from these initializers.
            for attr, array in zip(_INITIALIZERS, arrays):
                tensor = _as_tensor(array, share=self.weights is not None)
                setattr(layer, attr, _Preset(tensor, self.where(spec)))
        try:
            out = layer(inputs)
        except (ValueError, TypeError) as e:
            # Keras' own checks (shapes that do not fit, e.g. Concat of unequal maps).
            raise CaffeError(f"{self.where(spec)}: {str(e).splitlines()[0]}") from None
        if arrays is not None:
            for attr in _INITIALIZERS[: len(arrays)]:
                setattr(layer, attr, keras.initializers.Zeros())  # keeps get_config plain
            if len(layer.weights) != len(arrays):
                raise CaffeError(
                    f"{self.where(spec)}: {len(arrays)} weight arrays for "
                    f"{len(layer.weights)} variables"
                )
            if self.keep:
                self.kept[spec.name] = arrays
        layer.trainable = False
        self.outputs.append(out)
        for top in spec.top or [spec.name]:
            self.tensors[top] = out

    def build(self) -> keras.Model:
        for spec in self.net.layers:
            self.layer(spec)
        if self.input is None:
            raise CaffeError(f"{self.source}: the net has no input and no layers that use one")
        leaves = [t for t in self.outputs if id(t) not in self.consumed] or [self.input]
        try:
            model = keras.Model(self.input, leaves if len(leaves) > 1 else leaves[0])
        except ValueError as e:
            raise CaffeError(f"{self.source}: {str(e).splitlines()[0]}") from None
        model.trainable = False
        return model

    def layer(self, spec: LayerSpec) -> None:
        t, p = spec.type, spec.params
        if t == "Input":
            shapes = first(p, "input_param", {}).get("shape", [])
            dims = shapes[0].get("dim", []) if shapes else []
            if len(dims) != 4:
                raise CaffeError(f"{self.where(spec)}: input shape {dims} is not N,C,H,W")
            self.make_input(spec.name, spec.top[0] if spec.top else spec.name, int(dims[1]))
            return
        if t in DATA_TYPES:
            channels = first(first(p, "memory_data_param", {}), "channels")
            if spec.top:
                self.pending_input = (spec.name, spec.top[0], channels)
            self.notes.append(f"layer {spec.name!r} ({t}) is replaced by the model input")
            return
        if t in SKIPPED_TYPES or t.endswith("Loss"):
            self.notes.append(f"skipped layer {spec.name!r} ({t}): not used for inference")
            return
        if t == "Split":
            x = self.bottom(spec, 0)
            for top in spec.top:
                self.tensors[top] = x
            return
        method = layer_types.METHODS.get(t)
        if method is None:
            raise CaffeError(
                f"{self.where(spec)}: layer type {t!r} is not supported; remove the layer or "
                "cut the net before it"
            )
        method(self, spec, p)


def build_model(
    net: NetSpec, source: str, weights: dict | None = None, keep_weights: bool = False
) -> tuple[keras.Model, dict[str, list[np.ndarray]]]:
    """Builds the Keras model of a net.

    Args:
      net: the net; its layers' blobs hold the Caffe weights unless `weights` is given.
      source: the file name(s) for error messages.
      weights: Keras-layout arrays by Caffe layer name (from a converted file), or None.
      keep_weights: also return the Keras-layout arrays (to write a converted file).

    Returns:
      (model, arrays by Caffe layer name or {}). The model's input is NHWC float32 in Caffe
      space; it has one output per blob that no later layer reads; notes about skipped layers are
      in `model.caffe_notes`.

    Raises:
      CaffeError: an unsupported layer or weights that do not fit the net.
    """
    builder = _Builder(net, source, weights, keep_weights)
    model = builder.build()
    model.caffe_notes = tuple(builder.notes)
    return model, builder.kept
