"""The project's documents: generated reports are the same files on every machine."""

import re

from clothing.settings import DEFAULTS, ENVIRONMENT_VARIABLES
from tests.conftest import ROOT

ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.-]+/)+[\w.-]+\.(?:py|tflite|json|md)\b")


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(document) -> set[str]:
    """The #anchors GitHub makes of a document's headings, code blocks left out."""
    text = re.sub(r"^```.*?^```", "", document.read_text(), flags=re.MULTILINE | re.DOTALL)
    titles = re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-") for title in titles}


def test_no_document_names_an_absolute_path_of_the_machine_that_wrote_it():
    found = {doc.name: ABSOLUTE_PATH.findall(doc.read_text()) for doc in DOCUMENTS}
    assert not any(found.values()), found
    assert ABSOLUTE_PATH.findall("Profile at /home/someone/project/benchmarks/profile.py:24") != []


def test_every_relative_link_and_anchor_in_the_documents_resolves():
    broken = []
    for document in DOCUMENTS:
        text = re.sub(r"^```.*?^```", "", document.read_text(), flags=re.MULTILINE | re.DOTALL)
        for target in LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            path, _, anchor = target.partition("#")
            linked = (document.parent / path).resolve() if path else document
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert not broken, broken
    assert "hostile-pictures" in anchors(ROOT / "docs" / "security.md")  # the anchor rule itself


def test_the_readme_stays_a_page_a_newcomer_reads_in_five_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_the_settings_table_gives_every_setting_with_the_codes_default():
    cells = re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", (ROOT / "docs" / "configuration.md").read_text(),
                       re.MULTILINE)
    rows = {name: default.strip("`") for name, default in cells}
    assert set(ENVIRONMENT_VARIABLES) <= set(rows)
    for field, default in DEFAULTS._asdict().items():
        if field in ("model_path", "memory_mb"):
            continue  # a path on this machine (the table says where); the memory size Lambda itself gives
        written = ",".join(map(str, default)) if isinstance(default, tuple) else str(default).lower() or "none"
        assert rows[field.upper()].lower() in (written, written.removesuffix(".0")), field
