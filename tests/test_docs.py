"""The docs stay true to the code: the generated reference pages are what the code
gives today, the site builds with ``mkdocs build --strict`` (which fails on a broken
link, and is shown to), every repository path the docs cite exists, and the README
keeps its two commands and a formats table that matches the converters."""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from posepipe.converters import CONVERTERS
from posepipe.models.formats import Format

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATED = ("reference/cli.md", "reference/exit-codes.md", "reference/formats.md", "reference/zoo.md")
SITE_SOURCES = ("mkdocs.yml", "docs", "CONTRIBUTING.md", "CHANGELOG.md")
PROSE = (ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md")))
REPO_PATH = re.compile(r"^(?:pipeline|models|calibration|converters|validators|tests|scripts|docs|\.github|\.ci)/"
                       r"[\w./-]*$")


def generator(monkeypatch: pytest.MonkeyPatch) -> Any:
    """scripts/docs_pages.py, imported in this process (Keras is usually loaded already)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    import docs_pages

    return docs_pages


def build_site(config_dir: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "--config-file", str(config_dir / "mkdocs.yml"), "--site-dir", str(site)],
                          capture_output=True, text=True, check=False, cwd=config_dir,
                          env={**_environ(), "NO_MKDOCS_2_WARNING": "1"})


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_regenerating_the_reference_pages_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = "a benchmarks page the generator must leave alone\n"
    (tmp_path / "benchmarks.md").write_text(sentinel)
    assert generator(monkeypatch).main(["--out", str(tmp_path)]) == 0
    made = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "reference").rglob("*.md"))
    committed = sorted(str(p.relative_to(DOCS)) for p in (DOCS / "reference").rglob("*.md"))
    assert made == sorted(GENERATED) == committed
    stale = {}
    for name in GENERATED:
        fresh, old = (tmp_path / name).read_text(), (DOCS / name).read_text()
        if fresh != old:
            stale[name] = "".join(difflib.unified_diff(old.splitlines(True), fresh.splitlines(True), name, "fresh"))
    assert not stale, ("generated docs are stale; run `make docs`:\n"
                       + "\n".join(diff[:2000] for diff in stale.values()))
    assert (tmp_path / "benchmarks.md").read_text() == sentinel  # no --bench: the measured page stays


def test_the_site_builds_strict(tmp_path: Path) -> None:
    done = build_site(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in GENERATED:
        assert (tmp_path / "site" / name.removesuffix(".md") / "index.html").is_file()
    contributing = (tmp_path / "site" / "contributing" / "index.html").read_text()
    assert "Adding a model" in contributing  # the snippet pulled CONTRIBUTING.md in


@pytest.mark.parametrize("link", ["[gone](no-such-page.md)", "[gone](guide/convert.md#no-such-section)"])
def test_a_broken_link_fails_the_strict_build(tmp_path: Path, link: str) -> None:
    copy = tmp_path / "copy"
    for name in SITE_SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name)
        else:
            copy.mkdir(exist_ok=True)
            shutil.copy2(source, copy / name)
    with (copy / "docs" / "index.md").open("a") as page:
        page.write(f"\n{link}\n")
    done = build_site(copy, tmp_path / "site")
    assert done.returncode != 0
    target = link.split("(")[1].rstrip(")")
    assert target.split("#")[-1] in done.stdout + done.stderr


def cited_paths(text: str) -> set[str]:
    """Repository paths in code spans, `python -m` modules, and relative Markdown links."""
    found = {span for span in re.findall(r"`([^`\n]+)`", text) if REPO_PATH.match(span)}
    found |= {module.replace(".", "/") + ".py" for module in re.findall(r"python -m (tests(?:\.\w+)+)", text)}
    return found


@pytest.mark.parametrize("page", PROSE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_docs_cite_exists(page: Path) -> None:
    text = page.read_text()
    missing = sorted(p for p in cited_paths(text) if not (ROOT / p).exists())
    if page.parent == ROOT:  # mkdocs checks the site's links; GitHub renders these pages' links as they are
        links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
        missing += sorted(link for link in links if "://" not in link and not (page.parent / link).exists())
    assert not missing, f"{page.name} cites what is not in the repository: {missing}"


def test_the_path_check_sees_a_missing_path() -> None:
    text = "see `validators/compare.py`, `tests/support/harness.py` and `python -m tests.browser`"
    assert cited_paths(text) == {"validators/compare.py", "tests/support/harness.py", "tests/browser.py"}
    assert [p for p in sorted(cited_paths(text)) if not (ROOT / p).exists()] == ["tests/browser.py",
                                                                                "validators/compare.py"]


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def test_the_readme_is_short_and_has_the_two_commands() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200
    section = readme_section("The two commands")
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make convert MODEL=hourglass", "make test"]
    packages = re.search(r"^SYSTEM_PACKAGES := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert packages
    for package in packages.group(1).split():
        assert f"`{package}`" in section, f"README's note on make test does not name {package}"
    assert "apt-get" in section


def test_the_readme_formats_table_matches_the_converters() -> None:
    rows = {}
    for line in readme_section("Formats and precisions").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = tuple(_precisions(c) for c in cells[2:])
    expected = {fmt.value: (tuple(p.value for p in CONVERTERS[fmt].defaults),
                            tuple(p.value for p in CONVERTERS[fmt].precisions if p not in CONVERTERS[fmt].defaults))
                for fmt in Format}
    assert {name: tuple(map(sorted, cells)) for name, cells in rows.items()} == \
        {name: tuple(map(sorted, cells)) for name, cells in expected.items()}


def _precisions(cell: str) -> tuple[str, ...]:
    cell = re.sub(r"\([^)]*\)", "", cell)
    return tuple(p.strip() for p in cell.split(",") if p.strip() and p.strip() != "-")


def _row(file: str, precision: str, target: str, figure: float | None, status: str, **extra: object) -> dict:
    return {"model": "hourglass", "file": file, "format": file.rsplit(".", 1)[1], "precision": precision,
            "bytes": 2_500_000 if precision == "int8" else 9_000_000, "target": target, "runtime": "litert",
            "kind": extra.pop("kind", "measured"), "figure_ms": figure, "budget_ms": 10.0, "status": status,
            "vs_fp32": extra.pop("vs_fp32", None), **extra}


def test_the_benchmarks_page_shows_every_figure_verdict_and_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    generator(monkeypatch)
    from docs_bench import Measured, benchmarks_page

    basis = "MACs / 14.9 GMAC/s (published basis model)"
    rows = [_row("hourglass-fp32.tflite", "fp32", "host-cpu-1t", 7.25, "pass", vs_fp32=1.0),
            _row("hourglass-int8.tflite", "int8", "host-cpu-1t", 12.5, "fail", vs_fp32=12.5 / 7.25),
            _row("hourglass-fp32.tflite", "fp32", "pixel5-cpu-4t", 9.75, "pass", kind="estimated", basis=basis),
            _row("hourglass-int8.tflite", "int8", "pixel5-cpu-4t", None, "skipped", kind="estimated",
                 reason="no published basis for this precision")]
    document = {"rows": rows, "comparisons": [], "profiles": {}, "decoders": {},
                "breaches": ["hourglass-int8.tflite on host-cpu-1t: p50 12.50 ms over its budget of 10 ms"],
                "settings": {"warmup": 1, "runs": 50, "max_secs": 20.0}}
    measured = Measured("make bench MODEL=hourglass", "2026-12-05", "x86_64, 2 CPUs", "9.98 s wall")
    page = benchmarks_page(document, None, measured)
    assert "`make bench MODEL=hourglass`" in page and "2026-12-05" in page and "x86_64, 2 CPUs" in page
    assert "9.98 s wall" in page
    int8 = next(line for line in page.splitlines() if line.startswith("| `hourglass-int8.tflite`"))
    assert "12.50 / 10 **over**" in int8 and "skipped" in int8 and f"{12.5 / 7.25:.2f}x" in int8
    fp32 = next(line for line in page.splitlines() if line.startswith("| `hourglass-fp32.tflite`"))
    assert "7.25 / 10" in fp32
    assert "9.75 / 10" in fp32 and "**over**" not in fp32
    assert "host-cpu-1t (measured)" in page and "pixel5-cpu-4t (est.)" in page
    assert basis in page and "no published basis for this precision" in page and document["breaches"][0] in page
