"""Headless Chromium (Debian's ``chromium`` package, which ``make test`` installs)
rendering a page from disk, with the DOM as it stands after every image decoded.
``python -m tests.support.browser artifacts/MODEL/report.html`` checks a run's report the
way the tests do (the manifest beside it says what must be in it).

``--dump-dom`` prints the DOM once the page has loaded; ``--virtual-time-budget``
lets the page's own timers and image decoding run first. A probe script, added to
a copy of the page (the report itself has none), writes what it measured into
``<body data-...>`` attributes, which the dumped DOM then carries.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000")
PROBE = """<script>
addEventListener("load", () => {
  const images = [...document.images];
  const loaded = images.filter((i) => i.complete && i.naturalWidth > 0);
  document.body.dataset.images = images.length;
  document.body.dataset.loaded = loaded.length;
  document.body.dataset.broken = images.filter((i) => !loaded.includes(i)).map((i) => i.alt).join("|");
  document.body.dataset.svg = document.querySelectorAll("svg circle").length;
});
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium not found: `make test` installs Debian's chromium (apt-get install chromium)")
    return path


def check_report(report: Path, manifest: dict, workdir: Path, samples: int = 3) -> Page:
    """Self-contained, every manifest artifact in the table with its status, every
    overlay image (reference + each artifact, per sample) decoded, the chart drawn."""
    html = report.read_text()
    assert not re.search(r"""(src|href)=['"](?!data:)""", html), "the report must not load anything from outside"
    assert "<script" not in html and "<link" not in html
    page = rendered(report, workdir)
    files = [a["file"] for a in manifest["artifacts"]]
    assert sorted(page.rows) == sorted(files)
    assert {f: page.rows[f] for f in files} == {a["file"]: a["validation"]["status"] for a in manifest["artifacts"]}
    images = (len(files) + 1) * samples
    assert int(page.body["data-images"]) == images
    assert int(page.body["data-loaded"]) == images, f"not loaded: {page.body['data-broken']}"
    assert sorted({name for name, _ in page.overlays}) == sorted({"reference", *files})
    assert int(page.body["data-svg"]) >= len(files)  # the PCK chart has a point per artifact
    return page


def rendered(page: Path, workdir: Path) -> Page:
    probe = workdir / f"probed-{page.name}"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "<body" in done.stdout, done.stderr[-2000:]
    parsed = Page()
    parsed.feed(done.stdout)
    return parsed


class Page(HTMLParser):
    """What the tests read from a dumped DOM: body attributes, table rows, images."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.rows: dict[str, str] = {}  # data-artifact -> class (status)
        self.overlays: list[tuple[str, str]] = []  # (data-overlay, data-sample)
        self.headers: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "tr" and "data-artifact" in a:
            self.rows[a["data-artifact"]] = a.get("class", "")
        elif tag == "img" and "data-overlay" in a:
            self.overlays.append((a["data-overlay"], a.get("data-sample", "")))
        self._in_th = tag == "th"

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False


def main(report: str) -> None:
    path = Path(report)
    manifest = json.loads((path.parent / "manifest.json").read_text())
    with tempfile.TemporaryDirectory(prefix="report-check-") as workdir:
        page = check_report(path, manifest, Path(workdir))
    print(f"{path}: {len(page.rows)} artifacts in the table, {page.body['data-loaded']}/{page.body['data-images']} "
          f"images loaded, {page.body['data-svg']} chart points")


if __name__ == "__main__":
    main(sys.argv[1])
