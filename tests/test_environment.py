"""`scripts/environment.py`: one row per environment, each the Makefile's, and a user's mistake in one line."""

import os
import re
import subprocess
import sys

import pytest

from scripts import environment
from tests.conftest import ROOT


def environment_rules() -> dict[str, str]:
    """The Makefile's rules that make an environment with the script: each folder, and what it depends on."""
    makefile = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+) := (\S+)$", makefile, re.MULTILINE))
    rules = re.findall(r"^(\S+)/\.ready: ([^|\n]*)\|.*\n\t\$\(ENVIRONMENT\)$", makefile, re.MULTILINE)
    return {re.sub(r"\$\((\w+)\)", lambda m: variables[m.group(1)], target): prerequisites
            for target, prerequisites in rules}


def test_every_environment_row_is_a_makefile_target_made_by_the_script():
    assert set(environment_rules()) == set(environment.ENVIRONMENTS) - {"build/uv"}
    assert "\tpython3 -m scripts.environment build/uv\n" in (ROOT / "Makefile").read_text()


def test_each_requirements_file_a_row_names_is_there_and_remakes_its_environment_when_it_changes():
    rules = environment_rules()
    for folder, row in environment.ENVIRONMENTS.items():
        for requirements in (*row.requirements, *([row.no_deps] if row.no_deps else [])):
            assert (ROOT / requirements).is_file(), (folder, requirements)
            assert folder == "build/uv" or requirements in rules[folder].split(), (folder, requirements)


@pytest.mark.process
@pytest.mark.parametrize("argv", [[], ["somewhere/else"]])
def test_an_unknown_environment_gets_the_list_of_known_ones(argv):
    result = subprocess.run([sys.executable, "-m", "scripts.environment", *argv], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert all(name in result.stderr for name in environment.ENVIRONMENTS)


@pytest.mark.process
def test_a_missing_python_is_one_line_that_says_how_to_get_it_and_nothing_is_made(tmp_path):
    env = {**os.environ, "PYTHON": str(tmp_path / "python3.13")}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "environment.py"), "build/checkov-venv"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "needs Python 3.13" in result.stderr and "PYTHON=" in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.process
def test_make_hands_the_script_every_setting_it_reads_with_its_default():
    """An exported variable that is not yet defined is defined empty, and ``?=`` then keeps it empty. (UV's
    default depends on the PATH, and a caller's ``make test UV=`` reaches a make started here: not checked.)"""
    outside = ("TORCH_INDEX", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {name: value for name, value in os.environ.items() if name not in outside}
    shown = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                            "shown: ; @printenv TORCH_INDEX PYTHON TRAIN_PYTHON", "shown"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    torch_index, python, train_python = shown.splitlines()
    assert torch_index == "https://download.pytorch.org/whl/cpu"
    assert "3.13" in python and "3.11" in train_python
