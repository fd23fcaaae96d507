"""Settings read from the environment, and the interpreter's threads chosen from Lambda's memory size."""

import json
import os
import subprocess
import sys

import pytest

from clothing.settings import interpreter_threads
from tests.conftest import ROOT


@pytest.mark.parametrize(("memory", "threads"), [
    ("128", 1), ("768", 1), ("1024", 1), ("1769", 1), ("2048", 1), ("3008", 2), ("3538", 2), ("10240", 6)])
def test_auto_takes_the_vcpus_lambda_gives_at_the_memory_size_to_the_nearest_whole_one(memory, threads):
    chosen, reason = interpreter_threads("auto", memory)
    assert chosen == threads and memory in reason


def test_a_number_overrides_auto_and_no_memory_size_takes_this_machines_cpus():
    assert interpreter_threads("3", "1024") == (3, "INTERPRETER_THREADS")
    assert interpreter_threads("AUTO", None)[0] == min(len(os.sched_getaffinity(0)), 6)


@pytest.mark.process
def test_the_start_up_log_line_says_how_many_threads_and_why():
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}
    result = subprocess.run([sys.executable, "-c", "import lambda_function"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    ready = json.loads(result.stdout.strip().splitlines()[0])
    assert ready["message"] == "ready" and ready["interpreter_threads"] == 1
    assert ready["threads_reason"] == "auto: 1024 MB gives 0.58 vCPUs"
