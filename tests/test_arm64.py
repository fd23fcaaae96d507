"""arm64 (Graviton) answers as x86 does: the first picture of each class in tests/images through lambda_handler
on Debian's arm64 CPython with the aarch64 wheels of requirements.txt, under qemu-user (scripts/arm64.py),
against the same handler on this machine. A check of the answers, not of speed: emulation is far slower than
either (on some machines here about 15 s a picture, hence one a class rather than all 20).
"""

import subprocess
import sys

import pytest

from scripts import arm64
from tests.conftest import LABELS, image_files

pytestmark = pytest.mark.arm64  # make test-arm64 runs it (pyproject.toml's markers)

# The shipped model is int8: XNNPACK's NEON and AVX kernels need not round an int8 sum back to int8 alike, and
# its float softmax may differ in its last bits; `python -m scripts.arm64 compare` prints the largest difference.
# 1e-5 allows last bits and no int8 step (a step moves a score by far more).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def answers():
    arm64.prepare()  # make test has done it; here it only checks the stamp
    pictures = [picture for picture in image_files() if picture.stem.endswith("-1")]
    assert len(pictures) == len(LABELS)
    return arm64.classify(pictures), arm64.classify(pictures, [sys.executable])


def test_every_score_on_arm64_is_the_x86_score_within_float32_rounding(answers):
    on_arm64, on_x86 = answers
    assert len(on_arm64) == len(on_x86) == len(LABELS)
    for arm_answer, x86_answer in zip(on_arm64, on_x86, strict=True):
        assert list(arm_answer) == list(x86_answer) == list(LABELS)
        assert max(abs(arm_answer[label] - x86_answer[label]) for label in LABELS) <= TOLERANCE


def test_the_arm64_runtime_is_arm64_and_trimmed_as_the_image_is():
    python, variables = arm64.arm64_python()
    result = subprocess.run([*python, "-c", "import platform, ai_edge_litert, os; print(platform.machine(), "
                             "os.path.exists(os.path.join(os.path.dirname(ai_edge_litert.__file__), 'tools')))"],
                            env={"PATH": "/usr/bin:/bin", **variables}, capture_output=True, text=True, timeout=300)
    assert result.stdout.split() == ["aarch64", "False"], result.stderr
