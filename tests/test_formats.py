"""One table of model formats (conversion/formats.py): every framework module meets the same two functions, the
Makefile picks each format's environment from it, and a new format is one module and one row."""

import ast
import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conversion import formats
from conversion.convert import open_source
from conversion.inspect_model import describe
from conversion.source import ConversionError, Source
from tests.conftest import ROOT


@pytest.mark.parametrize("row", formats.FORMATS, ids=lambda row: row.module)
def test_every_framework_module_opens_and_describes(row):
    """Read without importing: the frameworks themselves are in other environments."""
    with open(importlib.util.find_spec(row.module).origin) as file:
        tree = ast.parse(file.read())
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"open_model", "describe"} <= functions


@pytest.mark.process
@pytest.mark.parametrize(("model", "environment"), [
    ("model.h5", "conversion"), ("model.KERAS", "conversion"), ("hair_classifier_v1.onnx", "conversion"),
    ("network.pt2", "training"), ("weights.pth", "training"), ("notes.txt", "conversion")])
def test_the_makefile_runs_each_format_where_the_table_says(model, environment):
    result = subprocess.run(["make", "-n", "--no-print-directory", "inspect", f"MODEL={model}"], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    venv = {"conversion": "conversion/.venv", "training": "training/.venv"}[environment]
    assert result.stdout.strip().splitlines()[-1].startswith(f"{venv}/bin/python -m conversion.inspect_model")


def test_a_new_format_is_one_module_and_one_row(tmp_path, monkeypatch):
    """The worked example of docs/formats.md: a NumPy ``.npz`` of a linear classifier's weights."""
    (tmp_path / "npz_source.py").write_text(textwrap.dedent('''
        import numpy as np
        from conversion.source import Source

        def open_model(path):
            weights = np.load(path)["weights"]
            return Source("NumPy", (1, 8, 8, 3), False, lambda batch: batch.reshape(len(batch), -1) @ weights,
                          None, False, None)

        def describe(path):
            return {"format": "a linear classifier's weights (.npz)"}
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, formats.Format("an .npz file", (".npz",),
                                                                              "npz_source", "conversion")))
    model = tmp_path / "linear.npz"
    np.savez(model, weights=np.ones((8 * 8 * 3, 2), np.float32))
    source = open_source(model)
    assert isinstance(source, Source) and source.framework == "NumPy"
    assert source.scores(np.ones((1, 8, 8, 3), np.float32)).tolist() == [[192.0, 192.0]]
    assert describe(model) == {"model": "linear.npz", "format": "a linear classifier's weights (.npz)"}


def test_what_no_row_reads_is_refused_in_one_line(tmp_path):
    picture = tmp_path / "hat.jpg"
    picture.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ConversionError, match="not a model this converter reads; give a .h5 or .keras file"):
        open_source(picture)
    with pytest.raises(ConversionError, match="no such file or folder"):
        describe(tmp_path / "missing.onnx")


@pytest.mark.process
def test_formats_runs_on_the_standard_library_alone():
    """The Makefile calls it with the system's Python, where NumPy may be missing."""
    result = subprocess.run([sys.executable, "-E", "-S", "-m", "conversion.formats", "environment", "a.pt2"],
                            cwd=ROOT, capture_output=True, text=True)
    assert (result.returncode, result.stdout.strip()) == (0, "training"), result.stderr
