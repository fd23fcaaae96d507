"""PyTorch to TF-Lite with litert-torch, and float16 weights with ai-edge-quantizer.

The one path both the training pipeline (``training.convert``) and ``make convert`` for ``.pt2`` networks take
(both in the training environment, where torch is), so that a network trained here and one brought by a user
become TF-Lite the same way.
"""

import contextlib
import sys
import tempfile
from pathlib import Path

import litert_torch
import torch

from conversion.float16 import to_float16


class ServedNetwork(torch.nn.Module):
    """Takes NHWC pictures, as the function prepares them, and answers as the function serves: probabilities."""

    def __init__(self, network: torch.nn.Module, channels_first: bool = True, add_softmax: bool = True):
        super().__init__()
        self.network, self.channels_first, self.add_softmax = network, channels_first, add_softmax

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        scores = self.network(images.permute(0, 3, 1, 2) if self.channels_first else images)
        return torch.softmax(scores, dim=-1) if self.add_softmax else scores


def export(network: torch.nn.Module, size: int, path: Path) -> Path:
    """``network`` (taking NHWC pictures of ``size``, in eval mode) as a float32 TF-Lite file.

    Not ``.eval()`` here: a network loaded from ``torch.export.save`` cannot switch modes, and is in eval already.
    """
    litert_torch.convert(network, (torch.zeros(1, size, size, 3),)).export(str(path))
    return path


def to_tflite(network: torch.nn.Module, size: int, float16: bool) -> bytes:
    """``network`` (taking NHWC pictures) as TF-Lite bytes, with float16 weights unless asked otherwise."""
    with tempfile.TemporaryDirectory(prefix="litert-") as scratch, contextlib.redirect_stdout(sys.stderr):
        float32_file = export(network, size, Path(scratch) / "model.tflite")  # its progress lines: not the report
        return to_float16(float32_file) if float16 else float32_file.read_bytes()
