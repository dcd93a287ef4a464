"""What a tiny run's exit code must agree with: its manifest's verdicts.

A tiny model's heatmaps are nearly flat, so a quantized file's decoded keypoints
agree with the reference's by chance (README, Tests): its task checks may fail
while everything the file *is* holds. A test of such a run therefore accepts a
failed file only when the task checks alone failed it, and exit 10 only when a
file failed, named on its own ``FAILED`` line.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.harness import Result

# The task checks, as validators/validate.py (TaskMetrics.failures) words them.
TASK_CHECK = re.compile(
    r"keypoint agreement [\d.]+% < [\d.]+% \(within [\d.]+ px of the reference\)"
    r"|people agreement [\d.]+% < [\d.]+% \(people both decodings found\)"
    r"|(PCK@0\.2|OKS AP) drop [\d.]+ points > [\d.]+"
)


def not_task_checks(failures: list[str]) -> list[str]:
    """The failures that are not task checks (tensor, shape, structure, runtime)."""
    return [f for f in failures if not TASK_CHECK.fullmatch(f)]


def verdicts_agree(result: Result, manifest: dict[str, Any]) -> list[str]:
    """The files that failed, after asserting that each file's status follows from
    its failures, that the manifest's ``passed`` and the exit code (0, or 10 with
    one error line counting them) say the same, and that each failed file is
    named on its own ``FAILED`` line with its failures."""
    entries = manifest["artifacts"]
    for entry in entries:
        validation = entry["validation"]
        assert validation["status"] == ("failed" if validation["failures"] else "passed"), entry["file"]
    failed = [e["file"] for e in entries if e["validation"]["status"] == "failed"]
    assert manifest["passed"] is (not failed)
    assert result.code == (10 if failed else 0), result.err
    if failed:
        assert result.error_lines == [f"posepipe: error: {len(failed)} of {len(entries)} artifacts failed their "
                                      f"checks; see artifacts/{manifest['model']}/manifest.json"], result.err
    for entry in entries:
        if entry["file"] in failed:
            assert f"FAILED {entry['file']}: {'; '.join(entry['validation']['failures'])}" in result.err
    return failed


def failed_on_task_checks_only(result: Result, manifest: dict[str, Any]) -> list[str]:
    """``verdicts_agree``, and every failure a task check."""
    for entry in manifest["artifacts"]:
        assert not_task_checks(entry["validation"]["failures"]) == [], (entry["file"], entry["validation"])
    return verdicts_agree(result, manifest)
