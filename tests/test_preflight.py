"""make deploy's and make destroy's checks before SAM starts (deploy/preflight.py): each missing thing said in
one line, in a fresh process with a stand-in ``docker`` and no AWS configuration."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.process  # every test here starts a process or a server


def preflight(tmp_path, docker_exit: int | None, credentials: bool, *arguments: str) -> subprocess.CompletedProcess:
    """``python -m deploy.preflight`` with a stand-in ``docker`` (or none) and (or without) credentials."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if docker_exit is not None:
        (bin_dir / "docker").write_text(f"#!/bin/sh\nexit {docker_exit}\n")
        (bin_dir / "docker").chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}
    if credentials:
        env |= {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example",
                "AWS_DEFAULT_REGION": "eu-west-1"}
    return subprocess.run([sys.executable, "-m", "deploy.preflight", *arguments], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_deploy_says_in_one_line_each_that_docker_and_credentials_are_missing(tmp_path):
    result = preflight(tmp_path, docker_exit=None, credentials=False)
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and len(lines) == 2, result.stderr
    assert "no container engine" in lines[0] and "no AWS credentials" in lines[1]


def test_deploy_says_when_docker_is_installed_but_not_running(tmp_path):
    result = preflight(tmp_path, docker_exit=1, credentials=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make deploy: docker installed but not running: start it, then run make deploy again"]


def test_deploy_goes_ahead_when_docker_answers_and_credentials_exist(tmp_path):
    result = preflight(tmp_path, docker_exit=0, credentials=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_destroy_needs_only_credentials_and_says_so_before_sam_asks_anything(tmp_path):
    result = preflight(tmp_path, None, False, "destroy")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["make destroy: no AWS credentials: run 'aws configure' (or set AWS_PROFILE, "
                                          "or AWS_ACCESS_KEY_ID and its secret)"]
    assert preflight(tmp_path, None, True, "destroy").returncode == 0  # no container engine needed
