"""SnapStart's hooks, registered as the function registers them and run by the runtime's own hook runner
(awslambdaric's, over the snapshot-restore-py package from PyPI), in a fresh process as Lambda would start it.
"""

import json
import subprocess
import sys

import pytest

from clothing.decoding.decode import ACCEPTED_FORMATS
from tests.conftest import LABELS, ROOT

# Start as Lambda starts a SnapStart version: init, the before-snapshot hooks, a restore, the after-restore
# hooks, then an invocation. Prints what the test checks, as one JSON object.
LIFECYCLE = """
import json, random, sys
import lambda_function
from awslambdaric import lambda_runtime_hooks_runner
import snapshot_restore_py

seen = {"snapstart_imported": "clothing.snapstart" in sys.modules,
        "hooks": [len(snapshot_restore_py.get_before_snapshot()), len(snapshot_restore_py.get_after_restore())]}
if seen["hooks"] != [0, 0]:
    decoded = []
    from clothing import snapstart
    classifier = lambda_function.service.classifier
    real_decode = classifier.decode
    classifier.decode = lambda data, **limits: decoded.append(data[:4]) or real_decode(data, **limits)  # a witness
    lambda_function.service.fetcher.tls  # as if init had made it
    lambda_runtime_hooks_runner.run_before_snapshot()
    samples = snapstart.sample_pictures()
    seen["primed"] = [name for name, data in samples.items() if data[:4] in decoded]
    state = random.getstate()
    lambda_runtime_hooks_runner.run_after_restore()
    seen["random_renewed"] = random.getstate() != state
    seen["tls_dropped"] = lambda_function.service.fetcher._tls is None
print("SEEN", json.dumps(seen))
"""


def start(**variables: str) -> dict:
    result = subprocess.run([sys.executable, "-c", LIFECYCLE], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **variables}, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("SEEN "))[5:])


@pytest.mark.process
def test_with_snapstart_the_snapshot_holds_every_decoder_and_a_restore_renews_random_and_tls():
    seen = start(AWS_LAMBDA_INITIALIZATION_TYPE="snap-start")
    assert seen["snapstart_imported"] and seen["hooks"] == [1, 1]
    assert seen["primed"] == list(ACCEPTED_FORMATS)
    assert seen["random_renewed"] and seen["tls_dropped"]


@pytest.mark.process
def test_without_snapstart_nothing_is_registered_or_imported():
    for variables in ({}, {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}):
        seen = start(**variables)
        assert not seen["snapstart_imported"] and seen["hooks"] == [0, 0]


def test_priming_classifies_a_picture_of_every_accepted_format():
    from clothing import snapstart
    from clothing.logs import json_logger
    from clothing.service import Service
    from clothing.settings import Settings

    logger, _ = json_logger("snapstart-test")
    scores = snapstart.prime(Service(Settings(), logger))
    assert list(scores) == list(ACCEPTED_FORMATS)
    assert all(list(answer) == list(LABELS) and abs(sum(answer.values()) - 1) < 1e-3 for answer in scores.values())


def test_after_a_restore_the_first_invocation_logs_a_cold_start():
    from clothing.logs import InvocationFields

    fields = InvocationFields()
    fields.start(None)
    fields.start(None)
    assert fields._fields.get()["cold_start"] is False
    fields.restored()
    fields.start(None)
    assert fields._fields.get()["cold_start"] is True
