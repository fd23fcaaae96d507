"""The benchmark's stand-in for the course's model builds in the training environment and costs what it should."""

import pytest

from benchmarks import course_model
from training.model import build

pytestmark = [pytest.mark.training, pytest.mark.filterwarnings("ignore::FutureWarning")]


def test_both_designs_cost_their_published_multiply_accumulates_per_picture():
    course = course_model.Xception().eval()
    assert 16.4 < course_model.gflops(course, 299) < 17.0  # Keras's Xception: 8.4 G multiply-accumulates
    lite0 = build("efficientnet-lite0", 224, pretrained=False).eval()
    assert 0.75 < course_model.gflops(lite0, 224) < 0.80  # EfficientNet-Lite0: 0.39 G
