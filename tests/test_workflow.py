"""The CI artifact workflow (.github/workflows/artifacts.yml) is linted here with
actionlint (and shellcheck on its run: scripts, when installed: ``make test``
installs it), so a broken workflow fails this suite before it fails on GitHub."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posepipe import models
from tests.support.harness import invoke

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "artifacts.yml"


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "actionlint"
    if not binary.exists():
        binary = Path(shutil.which("actionlint") or "actionlint")
    return subprocess.run([str(binary), "-oneline", str(path)], capture_output=True, text=True, check=False,
                          cwd=ROOT, timeout=120)


def test_the_artifacts_workflow_is_lint_clean() -> None:
    done = actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("good", "bad"), [
    ("needs.zoo.outputs.models", "needs.zooo.outputs.models"),  # a job that does not exist
    ("runs-on: macos-14", "runs-on: [macos-14"),  # broken YAML
    ('[ -e "$file" ]', '[ -e $file ]'),  # shellcheck: an unquoted path (SC2086)
])
def test_a_broken_workflow_fails_the_lint(tmp_path: Path, good: str, bad: str) -> None:
    text = WORKFLOW.read_text()
    assert good in text
    broken = tmp_path / ".github" / "workflows" / "artifacts.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(text.replace(good, bad))
    if "$file" in bad and not shutil.which("shellcheck"):
        pytest.fail("shellcheck not installed: `make test` installs Debian's shellcheck")
    assert actionlint(broken).returncode != 0


def step(job: dict, key: str, value: str) -> dict:
    """The one step of ``job`` whose ``id`` or ``name`` is ``value``: found by what
    it is, so adding or moving a step does not make the test read another one."""
    found = [s for s in job["steps"] if s.get(key) == value]
    assert len(found) == 1, f"{len(found)} steps with {key} {value!r}"
    return found[0]


def test_the_workflow_builds_every_model_and_checks_core_ml_on_macos() -> None:
    import yaml

    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert "posepipe list --names" in step(jobs["zoo"], "id", "list")["run"]
    assert jobs["zoo"]["outputs"]["models"] == "${{ steps.list.outputs.models }}"
    convert = jobs["convert"]
    assert convert["runs-on"].startswith("ubuntu")
    assert convert["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.zoo.outputs.models) }}"
    assert step(convert, "name", "make convert")["run"] == "make convert MODEL=${{ matrix.model }}"
    uploads = [s["with"]["path"] for s in convert["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "artifacts/${{ matrix.model }}/" in uploads
    coreml = jobs["coreml"]
    assert coreml["runs-on"].startswith("macos")
    script = step(coreml, "name", "validate every Core ML file in Core ML")["run"]
    assert "posepipe validate" in script and "*.mlpackage" in script and "*.mlmodel" in script
    assert "posepipe index" in step(jobs["index"], "name", "posepipe index")["run"]


def test_the_macos_job_reports_core_ml_compute_plans() -> None:
    import yaml

    coreml = yaml.safe_load(WORKFLOW.read_text())["jobs"]["coreml"]
    script = step(coreml, "name", "Core ML compute plan of every Core ML file")["run"]
    assert ".venv/bin/python scripts/coreml_compute_plan.py" in script and "*.mlpackage" in script
    assert (ROOT / "scripts" / "coreml_compute_plan.py").is_file()
    uploads = [s["with"]["path"] for s in coreml["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert "artifacts/${{ matrix.model }}/*.compute-plan.json" in uploads


def test_list_names_is_the_zoo(capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, "list", "--names")
    assert result.code == 0 and result.out.split() == models.names()
