"""crowsonkb/style-transfer-pytorch's weights, written with the peer's own Python (`-peer_python`).

    python crowsonkb.py setup WEIGHTS.npz

writes the arrays tools/benchmark/inputs.py wrote (torchvision's VGG-19 keys: features.N and
classifier.N, weight and bias) as a state_dict where torchvision's `vgg19(weights=
IMAGENET1K_V1)` loads its weights from: `torch.hub.get_dir()/checkpoints/<the file name of the
weights' URL>`, under $TORCH_HOME (which the benchmark points into its -out_dir). torchvision
checks a file's hash only when it downloads it, so the cached synthetic file is loaded as it is.
It prints the path it wrote. The peer's own CLI is then run unchanged (tools/benchmark/
crowsonkb.py builds its command).

This file runs in a venv with torch, torchvision and numpy: it imports nothing from this
repository (tests/tools/benchmark/crowsonkb_test.py checks that).
"""

import os
import sys


def checkpoint_path():
    """Where torchvision looks for vgg19's IMAGENET1K_V1 weights (the hub's checkpoints)."""
    import torch
    from torchvision.models import VGG19_Weights

    name = os.path.basename(VGG19_Weights.IMAGENET1K_V1.url)
    return os.path.join(torch.hub.get_dir(), "checkpoints", name)


def setup(weights):
    """The state_dict of `weights` (an .npz) as torchvision's cached vgg19 file."""
    import numpy as np
    import torch

    arrays = np.load(weights)
    path = checkpoint_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({k: torch.from_numpy(arrays[k]) for k in arrays.files}, path)
    print(path)


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup(rest[0])
    elif command == "where":
        print(checkpoint_path())
    else:
        sys.exit(f"{sys.argv[0]}: unknown command {command!r} (setup or where)")
