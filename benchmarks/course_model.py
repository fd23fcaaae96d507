"""Build the course's model for the benchmark: Xception at 299x299 with its 10-class head, as TF-Lite.

    python -m benchmarks.course_model      # in the training environment

Only its cost matters to the benchmark, so its weights are random. Also
counts both models' GFLOPs per picture into ``build/bench/flops.json``.
"""

import json
from itertools import pairwise
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from clothing.classifier import metadata_path
from conversion import torch_to_tflite
from training import config
from training.model import build

OUT = config.ROOT / "build" / "bench"
COURSE_MODEL = OUT / "course_xception.tflite"


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout)]


def separable(cin: int, cout: int) -> list[nn.Module]:
    """Keras's SeparableConv2D (3x3 depthwise, then 1x1) followed by BatchNorm."""
    return [nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout)]


class Block(nn.Module):
    """A residual block of separable convolutions, with a strided 1x1 shortcut when it downsamples."""

    def __init__(self, widths: list[int], relu_first: bool = True, downsample: bool = True):
        super().__init__()
        layers = []
        for i, (cin, cout) in enumerate(pairwise(widths)):
            if i or relu_first:
                layers.append(nn.ReLU())
            layers += separable(cin, cout)
        if downsample:
            layers.append(nn.MaxPool2d(3, 2, 1))
            self.shortcut = nn.Sequential(*conv_bn(widths[0], widths[-1], 1, 2))
        else:
            self.shortcut = nn.Identity()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Xception(nn.Module):
    """Keras's Xception (include_top=False), global pooling, then the course's Dense(100) and Dense(10)."""

    def __init__(self, classes: int = 10, inner: int = 100):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(3, 32, 3, 2), nn.ReLU(), *conv_bn(32, 64, 3), nn.ReLU(),
            Block([64, 128, 128], relu_first=False), Block([128, 256, 256]), Block([256, 728, 728]),
            *[Block([728, 728, 728, 728], downsample=False) for _ in range(8)],
            Block([728, 728, 1024]),
            *separable(1024, 1536), nn.ReLU(), *separable(1536, 2048), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(2048, inner), nn.ReLU(), nn.Linear(inner, classes))

    def forward(self, x):
        return self.head(self.features(x))


def gflops(model: nn.Module, size: int) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    course = Xception().eval()
    shipped = json.loads(Path(metadata_path(config.MODEL_FILE)).read_text())
    ours = build(shipped["architecture"], shipped["input_size"], pretrained=False).eval()
    flops = {"course": gflops(course, 299), "ours": gflops(ours, shipped["input_size"])}
    (OUT / "flops.json").write_text(json.dumps(flops, indent=2) + "\n")
    print(f"GFLOPs per picture: course {flops['course']:.2f}, ours {flops['ours']:.2f}")
    if not COURSE_MODEL.exists():
        # served as the course serves it: its logits, float32 weights
        COURSE_MODEL.write_bytes(torch_to_tflite.to_tflite(course, 299, add_softmax=False, float16=False))
    print(f"{COURSE_MODEL}: {COURSE_MODEL.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
