"""The project's documents: generated reports are the same files on every machine."""

import re

from tests.conftest import ROOT

ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]+\.(?:py|tflite|json|md)\b")


def test_no_document_names_an_absolute_path_of_the_machine_that_wrote_it():
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = {doc.name: ABSOLUTE_PATH.findall(doc.read_text()) for doc in documents}
    assert not any(found.values()), found
    assert ABSOLUTE_PATH.findall("Profile at /home/someone/project/benchmarks/profile.py:24") != []
