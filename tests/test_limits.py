"""Lambda's CPU share and memory limit for a memory size, applied on this machine by `MEMORY=<MB> make serve`."""

import os
import shutil
import signal
import subprocess
import sys
from base64 import b64encode

import pytest
import requests
from PIL import Image

from scripts import limits
from scripts.ports import free_port, wait_for_port
from tests.conftest import IMAGES, LABELS, ROOT

INVOCATIONS = "/2015-03-31/functions/function/invocations"


def test_the_cpu_quota_is_the_share_of_a_cpu_lambda_gives():
    assert limits.cpu_quota_us(1769) == limits.PERIOD_US
    assert limits.cpu_quota_us(1024) == round(1024 / 1769 * limits.PERIOD_US)  # 0.58 of a CPU
    assert limits.cpu_quota_us(10240) <= (os.cpu_count() or 1) * limits.PERIOD_US  # no more than this machine has


def test_without_a_cgroup_file_system_it_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "CGROUPS", tmp_path)
    with pytest.raises(limits.LimitsUnavailable, match="no cgroup file system"):
        limits.enter(1024, "clothing-test")
    with pytest.raises(limits.LimitsUnavailable):
        limits.check()


def cgroups_writable() -> bool:
    try:
        limits.check()
        return True
    except limits.LimitsUnavailable:
        return False


@pytest.mark.process
@pytest.mark.skipif(not cgroups_writable(), reason="cgroups cannot be written on this machine")
def test_under_a_small_memory_size_a_bomb_kills_the_runtime_as_lambda_would_and_serving_goes_on(tmp_path):
    """25 megapixels with transparency fit the decode budget, not 192 MB: Lambda would kill the runtime."""
    bomb = tmp_path / "bomb.png"
    Image.new("RGBA", (5000, 5000), (200, 10, 10, 100)).save(bomb)
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py"), "--port", str(port),
                                "--api-port", str(free_port()), "--memory", "192"],
                               env={**os.environ, "ALLOW_PRIVATE_URLS": "true"},
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for_port(port, process, timeout=600)
        assert "under Lambda's limits for 192 MB: 0.11 of a CPU" in process.stdout.readline() + \
            process.stdout.readline()
        quota = (limits.CGROUPS / "cpu" / f"clothing-serve-{port}" / "cpu.cfs_quota_us")
        if quota.exists():
            assert int(quota.read_text()) == limits.cpu_quota_us(192)
        url = f"http://127.0.0.1:{port}{INVOCATIONS}"
        killed = requests.post(url, json={"image": b64encode(bomb.read_bytes()).decode()}, timeout=120).json()
        assert "errorType" in killed  # the runtime's own error: the process died, as Lambda would report it
        served = requests.post(url, json={"image": b64encode((IMAGES / "hat-1.jpg").read_bytes()).decode()},
                               timeout=120).json()
        assert list(served) == list(LABELS)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
        process.stdout.close()
        limits.remove(f"clothing-serve-{port}")
        shutil.rmtree(ROOT / "build" / f"task-{port}", ignore_errors=True)
