"""Every error tf_style raises on purpose, under one base class, `TfStyleError`.

Each message is one line for people: it names the input and what to do. `InputError`s are bad
input found before anything slow starts (the command exits 2); `RunError`s are failures during
a run (it exits 1). The classes derive from ValueError and RuntimeError as well, so code written
against those keeps working. Standard library only: `tf_style.config` imports this module, and
importing tf_style must stay instant.
"""

from __future__ import annotations


class TfStyleError(Exception):
    """Base class of tf_style's own errors."""


class InputError(TfStyleError, ValueError):
    """Bad input: an option, a file or a combination that cannot work."""


class RunError(TfStyleError, RuntimeError):
    """A failure during a run, after the input was accepted."""


class ConfigError(InputError):
    """An option's value is invalid."""


class ImageError(InputError):
    """An input image is missing, unreadable, too large or too small, or an output path is
    unusable."""


class LayerError(InputError):
    """A requested layer does not exist in the model or cannot serve as a loss layer."""


class DeviceError(InputError):
    """The requested device does not exist, or a split over devices is not possible."""


class CaffeError(InputError):
    """A Caffe .prototxt or .caffemodel cannot be read or built."""


class ModelError(InputError):
    """A -model_file / -proto_file names no zoo model and no usable file."""


class JobError(InputError):
    """A -jobs file or folder cannot be read, or a job in it is invalid."""


class CheckpointError(InputError):
    """-resume finds no usable checkpoint, or one made with other settings."""


class VideoError(InputError):
    """A -content_video cannot be read (not a video, no frames, frames of several sizes), an
    -output_video cannot be written, or PyAV and OpenCV are not installed."""


class ProvenanceError(InputError):
    """An image carries no tf_style configuration to show."""


class WriteError(RunError):
    """A file could not be written during a run (a full disk, a file size limit, ...)."""


class DownloadError(RunError):
    """A model file could not be downloaded from any of its sources."""


class MemoryEstimateError(InputError):
    """The estimated peak memory of a run exceeds what the device has available."""


class NonFiniteError(RunError, FloatingPointError):
    """The loss became NaN or infinite; the last finite image was saved."""


__all__ = [
    "CaffeError",
    "CheckpointError",
    "ConfigError",
    "DeviceError",
    "DownloadError",
    "ImageError",
    "InputError",
    "JobError",
    "LayerError",
    "MemoryEstimateError",
    "ModelError",
    "NonFiniteError",
    "ProvenanceError",
    "RunError",
    "TfStyleError",
    "VideoError",
    "WriteError",
]
