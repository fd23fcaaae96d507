"""Which environment's run reads a test module: the one its marker names, decided before the module is imported.

Each environment lacks the others' frameworks (TensorFlow in conversion/.venv, torch in training/.venv), and
pytest imports a module before ``-m`` deselects its tests. So a module marked ``keras``, ``onnx`` or ``training``
(pyproject.toml's markers) is read only by a run whose ``-m`` names that marker, and a module with none of them,
the serving environment's, only by a run that names none. What is named on the command line is always read.
"""

import ast
import re
from pathlib import Path

import pytest

ENVIRONMENTS = frozenset({"keras", "onnx", "training"})


def environments_of(source: str) -> frozenset[str]:
    """The environment markers in a module's ``pytestmark``, read from its source."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "pytestmark"
                                                for target in node.targets):
            return ENVIRONMENTS & {part.attr for part in ast.walk(node.value) if isinstance(part, ast.Attribute)}
    return frozenset()


def environments_selected(markexpr: str) -> frozenset[str]:
    return ENVIRONMENTS & set(re.findall(r"\w+", markexpr))


def reads(module: frozenset[str], selected: frozenset[str]) -> bool:
    return bool(module & selected) if module or selected else True


def pytest_ignore_collect(collection_path: Path, config):
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if config.args_source == pytest.Config.ArgsSource.ARGS and any(
            collection_path.is_relative_to(Path(arg.split("::")[0]).resolve()) for arg in config.args):
        return None
    module = environments_of(collection_path.read_text())
    return None if reads(module, environments_selected(config.option.markexpr or "")) else True
