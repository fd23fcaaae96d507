"""The project's documents: generated reports are the same files on every machine."""

import json
import re
import subprocess

import pytest

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
    assert len((ROOT / "README.md").read_text().splitlines()) <= 120


def test_every_docs_page_is_one_subject_a_reader_gets_through():
    """At most 150 lines besides its tables' rows: a longer page is split by subject."""
    long = {page.name: count for page in (ROOT / "docs").glob("*.md")
            if (count := sum(not line.startswith("|") for line in page.read_text().splitlines())) > 150}
    assert not long, long


# A figure in prose: a number with a unit of time, size or share.
FIGURE = re.compile(r"(?<![\w.])\d[\d,.]*\s?(?:ms|MB|GB|KB|MiB|s|seconds|minutes|%|x|points)(?!\w)")
# Where a figure comes from: the command that prints it, the test or benchmark that measures it, the setting it
# is (an UPPER_CASE or camelCase name), or its source (a link).
ORIGIN = re.compile(r"`(?:make [a-z-]+|python -m [\w.]+|bash \.ci/run)[^`]*`|tests/test_\w+\.py|benchmarks/\w+"
                    r"|`[A-Z][A-Z_]{2,}`|`[a-zA-Z][a-z]+[A-Z]\w*`|\]\(https?://")


def prose_paragraphs(text: str) -> list[str]:
    """A document's paragraphs and list items, with its tables, code blocks and headings left out."""
    paragraphs, current, code = [], [], False
    for line in text.splitlines():
        starts_item = re.match(r"\s*(?:[-*]|\d+\.) ", line)
        if line.startswith("```"):
            code = not code
        if code or line.startswith(("```", "|", "#")) or not line.strip() or starts_item:
            paragraphs.append(" ".join(current))
            current = [line] if starts_item and not code else []
        else:
            current.append(line.strip())
    return [paragraph for paragraph in [*paragraphs, " ".join(current)] if paragraph]


def test_every_figure_in_prose_names_the_command_test_setting_or_source_it_comes_from():
    unsourced = [f"{document.name}: {paragraph[:160]}" for document in DOCUMENTS
                 for paragraph in prose_paragraphs(document.read_text())
                 if FIGURE.search(paragraph) and not ORIGIN.search(paragraph)]
    assert not unsourced, "figures with no command, test, setting or source beside them:\n" + "\n".join(unsourced)
    assert prose_paragraphs("It took 8 s.\n\n| 8 s |\n```\n8 s\n```\n- 9 s, `make bench`") == [
        "It took 8 s.", "- 9 s, `make bench`"]


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


def layout_map() -> list[str]:
    """docs/development.md's layout block: each line's first path, the indented ones under their folder."""
    block = (ROOT / "docs" / "development.md").read_text().split("## Layout", 1)[1].split("```")[1]
    paths, folders = [], {}
    for line in block.splitlines():
        if not line.strip() or line.startswith(" " * 8):  # a description's second line
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        first = line.split()[0].rstrip(",")
        path = f"{folders[depth - 1]}/{first}" if depth else first
        folders[depth] = path.rstrip("/")
        paths.append(path)
    return paths


@pytest.mark.process  # asks git what is tracked
def test_the_layout_map_names_only_what_exists_and_every_folder_and_module_at_the_top():
    paths = layout_map()
    missing = [path for path in paths if not list(ROOT.glob(path.rstrip("/")))]
    assert not missing, f"docs/development.md's layout names what is not there: {missing}"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    top = {name.split("/")[0] + ("/" if "/" in name else "") for name in tracked}
    wanted = {name for name in top if name.endswith("/") or name.endswith((".py", ".yaml"))} - {".ci/"}
    named = {path.split("/")[0] + ("/" if "/" in path else "") for path in paths}
    assert not wanted - named, f"docs/development.md's layout leaves out {sorted(wanted - named)}"


def test_the_benchmark_page_is_what_make_bench_wrote_from_its_recorded_run():
    from benchmarks import run  # noqa: PLC0415 - the benchmark's own renderer, with what it imports

    record = json.loads(run.RESULTS.read_text())
    assert (ROOT / "docs" / "benchmark.md").read_text() == run.render(record)
    assert set(record["results"]) == {*run.DESIGNS, "floor", "model floor"}


def test_the_memory_sizes_block_is_what_benchmarks_memory_wrote_from_its_recorded_run():
    from benchmarks import memory  # noqa: PLC0415 - the benchmark's own renderer, with what it imports

    record = json.loads(memory.RESULTS.read_text())
    block = f"```\n$ .venv/bin/python -m benchmarks.memory\n{memory.render(record)}```"
    assert block in (ROOT / "docs" / "performance.md").read_text()
