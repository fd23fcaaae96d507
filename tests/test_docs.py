"""The project's documents: generated reports are the same files on every machine."""

import re

from clothing.settings import DEFAULTS, ENVIRONMENT_VARIABLES
from tests.conftest import ROOT

ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]+\.(?:py|tflite|json|md)\b")


def test_no_document_names_an_absolute_path_of_the_machine_that_wrote_it():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {doc.name: ABSOLUTE_PATH.findall(doc.read_text()) for doc in documents}
    assert not any(found.values()), found
    assert ABSOLUTE_PATH.findall("Profile at /home/someone/project/benchmarks/profile.py:24") != []


def test_the_readmes_settings_table_gives_every_setting_with_the_codes_default():
    cells = re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.MULTILINE)
    rows = {name: default.strip("`") for name, default in cells}
    assert set(ENVIRONMENT_VARIABLES) <= set(rows)
    for field, default in DEFAULTS._asdict().items():
        if field == "model_path":
            continue  # a path on this machine; the table says where
        written = ",".join(map(str, default)) if isinstance(default, tuple) else str(default).lower()
        assert rows[field.upper()].lower() in (written, written.removesuffix(".0")), field
