"""The report's "which file for which app" table: per built file, its variant (what it
takes and gives), where it runs whole (the accelerators that take every node of it,
from the coverage check) and, for a keypoints file, its end-to-end time with the
decoder's share. Heatmap-only files stay beside keypoints files because a decoder's
ops can keep an accelerator (NNAPI, Core ML) from taking the whole graph."""

from __future__ import annotations

from html import escape
from typing import Any

TAKES = {"tensor": "normalised tensor", "app": "uint8 RGB pixels", "keypoints": "uint8 RGB pixels"}
GIVES = {"tensor": "raw outputs: decode in the app", "app": "raw outputs: decode in the app",
         "keypoints": "decoded in the file"}


def variants_section(manifest: dict[str, Any]) -> str:
    rows = [_row(entry) for entry in manifest["artifacts"] if "sha256" in entry]
    if not rows:
        return "<p class='meta'>No file was built.</p>"
    head = "".join(f"<th>{h}</th>" for h in ("file", "variant", "takes", "gives", "runs whole on",
                                               "end to end, 1 thread", "decoder's share"))
    return (f"<table id='variants'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            "<p class='meta'>Where a file runs whole is the coverage check's verdict above. A keypoints file's "
            "decoder (comparisons, reductions; a bottom-up model's TopK and gathers) can keep an accelerator from "
            "taking all of it: where it does, the app file is the one for that accelerator, with the decoder in "
            "the app.</p>")


def _row(entry: dict[str, Any]) -> str:
    variant = entry.get("variant", "tensor")
    whole = [name for name, c in (entry.get("coverage") or {}).items() if c.get("fully_delegated")]
    total, share = _end_to_end(entry)
    cells = (entry["file"], variant, TAKES[variant], GIVES[variant], ", ".join(["cpu", *whole]), total, share)
    return "<tr>" + "".join(f"<td class='text'>{escape(c)}</td>" for c in cells) + "</tr>"


def _end_to_end(entry: dict[str, Any]) -> tuple[str, str]:
    """The first measured target's whole path (``latency.end_to_end``), or blanks."""
    targets = ((entry.get("latency") or {}).get("end_to_end") or {}).get("targets") or {}
    for name, figure in targets.items():
        share = figure.get("decoder_share")
        return (f"{figure['total_ms']:.2f} ms on {name} ({figure['app_side_ms']:.2f} ms in the app)",
                "" if share is None else f"{100 * share:.0f}%")
    return "", ""
