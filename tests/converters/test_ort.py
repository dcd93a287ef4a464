"""ORT Mobile files: every passed .onnx of a run has an .ort made from it by ONNX
Runtime's converter, validated like it, with its required-operators config beside
it, its metadata carried, listed, indexed, pulled, inspected and predicted with.
All of it read from the session's shared tiny run (fp32 of every format)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from posepipe import models
from posepipe.converters import CONVERTERS, ConversionError
from posepipe.converters.ort.flatbuffer import read as read_ort
from posepipe.converters.ort.operators import config_path, read_config
from posepipe.models.formats import Format, Precision
from posepipe.pipeline.engine.hashing import sha256_path
from posepipe.validators.validate import Status, validate
from tests.support.harness import TinyZoo, invoke, read_manifest
from tests.support.ort import ort_of

ORT = CONVERTERS[Format.ORT]


def _folder(tiny_run: Path) -> Path:
    return tiny_run / "artifacts" / "hourglass"


def _entries(tiny_run: Path) -> dict[str, dict]:
    return {a["file"]: a for a in read_manifest(tiny_run, "hourglass")["artifacts"]}


def test_the_ort_is_validated_exactly_like_its_onnx_and_listed_with_its_config(tiny_run: Path) -> None:
    entries = _entries(tiny_run)
    onnx, ort = entries["hourglass-fp32.onnx"], entries["hourglass-fp32.ort"]
    assert onnx["validation"]["status"] == ort["validation"]["status"] == "passed"
    same = ("runtime", "samples")
    assert {k: ort["validation"][k] for k in same} == {k: onnx["validation"][k] for k in same}
    assert [o["name"] for o in ort["validation"]["outputs"]] == [o["name"] for o in onnx["validation"]["outputs"]]
    # the same graph and weights, run by the same runtime: the same numbers to float rounding
    for a, b in zip(ort["validation"]["outputs"], onnx["validation"]["outputs"], strict=True):
        assert a["max_abs"] == pytest.approx(b["max_abs"], abs=1e-6) and a["cosine"] == pytest.approx(b["cosine"])
    assert ort["validation"]["task"]["agreement"] == onnx["validation"]["task"]["agreement"]
    assert ort["validation"]["checker"] == {"name": ORT.checker, "passed": True}
    assert (ort["inputs"], ort["outputs"]) == (onnx["inputs"], onnx["outputs"])
    folder = _folder(tiny_run)
    (config,) = ort["companions"]
    assert config["file"] == "hourglass-fp32.required_operators.config"
    assert config["sha256"] == sha256_path(folder / config["file"]) and config["bytes"] > 0
    assert sha256_path(folder / ort["file"]) == ort["sha256"]
    assert all(tool["tool"].endswith("on its source hourglass-fp32.onnx") for tool in ort["coverage"].values())
    assert ort["coverage"] == {k: v | {"tool": ort["coverage"][k]["tool"]} for k, v in onnx["coverage"].items()}
    report = (folder / "report.html").read_text()
    row = report[report.index("data-artifact='hourglass-fp32.ort'"):]
    assert f"+ {config['file']}" in row[:row.index("</tr>")]


def test_the_required_operators_config_names_the_ops_the_model_runs(tiny_run: Path, tmp_path: Path) -> None:
    """Every op the .ort's graph runs is in it; it invents no ONNX op the .onnx
    lacks; what it leaves out of the .onnx's ops, ORT's basic optimizations folded
    away (they are not in the .ort's graph either)."""
    import onnx

    folder = _folder(tiny_run)
    config = read_config(config_path(folder / "hourglass-fp32.ort")).ops
    graph = read_ort(folder / "hourglass-fp32.ort").ops
    source = {n.op_type for n in onnx.load(str(folder / "hourglass-fp32.onnx")).graph.node}
    standard = {op for domain, op in config if domain == "ai.onnx"}
    assert graph <= config and standard <= source
    assert {op for _, op in graph}.isdisjoint(source - standard)
    assert {"Conv", "Add"} <= standard and {domain for domain, _ in config} <= {"ai.onnx", "com.microsoft"}

    # planted: a config that misses one op the graph runs is refused by the checker, naming it
    copy = tmp_path / "hourglass-fp32.ort"
    shutil.copy(folder / copy.name, copy)
    text = config_path(folder / copy.name).read_text()
    config_path(copy).write_text("\n".join(line.replace(",Conv", "").replace(";Conv", ";Relu")
                                           for line in text.splitlines()))
    with pytest.raises(ConversionError, match="lacks ai.onnx:Conv"):
        ORT.verify(copy)


def test_the_metadata_travels_in_the_ort_and_inspect_shows_it(tiny_run: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tiny_run)
    onnx, ort = (CONVERTERS[f].read_metadata(folder / f"hourglass-fp32{f.suffix}") for f in (Format.ONNX, Format.ORT))
    assert ort.document == onnx.document | {"format": "ort"}
    assert ort.fields["descriptions"] == onnx.fields["descriptions"] and ort.fields["descriptions"]["image"]
    assert ort.fields["doc_string"] == onnx.fields["doc_string"].replace("(fp32 onnx)", "(fp32 ort)")
    result = invoke(capfd, "inspect", folder / "hourglass-fp32.ort")
    assert result.code == 0, result.err
    assert "hourglass-fp32.ort: ort" in result.out and onnx.fields["descriptions"]["heatmaps"] in result.out

    # planted: the run's document for this file differs from what it carries, so embed refuses it
    import dataclasses

    from posepipe.pipeline.run.contract import model_contract
    from posepipe.pipeline.run.describe import model_metadata

    spec = models.get("hourglass")
    document = dataclasses.replace(model_metadata(spec, spec.tiny, ort.document["weights_sha256"],
                                                  ort.document["decoder"]), contract=model_contract(spec, spec.tiny))
    signature = ORT.signature(folder / "hourglass-fp32.ort")
    ORT.embed(folder / "hourglass-fp32.ort", document.for_artifact(Format.ORT, Precision.FP32, signature))
    with pytest.raises(ConversionError, match="embedded metadata is not the run's: version"):
        ORT.embed(folder / "hourglass-fp32.ort",
                  dataclasses.replace(document, version="9.9").for_artifact(Format.ORT, Precision.FP32, signature))


def test_the_run_validation_fails_an_ort_with_other_weights(zoo: TinyZoo, tiny_run: Path, tmp_path: Path) -> None:
    """What the run does to each file (validators/validate.py ``validate``) passes
    the run's .ort and fails one made from the same .onnx with one conv's weights
    reversed: had the .ort not been validated, nothing else would notice."""
    import onnx

    from posepipe.pipeline.engine.console import Console
    from posepipe.pipeline.run.data import Data
    from posepipe.pipeline.run.reference import val_reference

    spec = models.get("hourglass")
    data = Data(zoo.data_for("hourglass"), True, "tiny")
    reference, _ = val_reference(zoo.model("hourglass"), spec, spec.tiny, data, spec.tiny_schedule.val_images,
                                 Console(live=False))
    tolerance = spec.tolerances[Precision.FP32]
    good = validate(_folder(tiny_run) / "hourglass-fp32.ort", reference, tolerance)
    assert good.status is Status.PASSED, good.failures
    listed = _entries(tiny_run)["hourglass-fp32.ort"]["validation"]["outputs"][0]["max_abs"]
    assert good.outputs[0].max_abs == pytest.approx(listed)

    proto = onnx.load(str(_folder(tiny_run) / "hourglass-fp32.onnx"))
    weight = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    values = onnx.numpy_helper.to_array(weight)
    weight.CopyFrom(onnx.numpy_helper.from_array(values[::-1].copy(), weight.name))
    onnx.save(proto, str(tmp_path / "hourglass-fp32.onnx"))
    swapped = ort_of(tmp_path / "hourglass-fp32.onnx", tmp_path / "ort")
    bad = validate(swapped, reference, tolerance)
    assert bad.status is Status.FAILED and bad.failures


def test_index_and_pull_bring_the_ort_with_its_config_verified(
        tiny_run: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "host"
    shutil.copytree(tiny_run / "artifacts", root)
    assert invoke(capfd, "index", "--out", root).code == 0
    entry = next(a for a in json.loads((root / "index.json").read_text())["artifacts"] if a["format"] == "ort")
    config = "hourglass-fp32.required_operators.config"
    assert entry["companions"] == [{"file": config, "path": f"hourglass/{config}",
                                    "bytes": (root / "hourglass" / config).stat().st_size,
                                    "sha256": sha256_path(root / "hourglass" / config)}]
    pulled = invoke(capfd, "pull", "hourglass", "--format", "ort", "--precision", "fp32", "--from", root,
                    "--to", tmp_path / "app")
    assert pulled.code == 0, pulled.err
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["hourglass-fp32.ort", config,
                                                                    "hourglass-golden.png"]
    assert sha256_path(tmp_path / "app" / config) == entry["companions"][0]["sha256"]

    # planted: the config changed on the host; the pull stops before anything lands
    (root / "hourglass" / config).write_text("ai.onnx;13;Conv\n")
    refused = invoke(capfd, "pull", "hourglass", "--format", "ort", "--precision", "fp32", "--from", root,
                     "--to", tmp_path / "other")
    assert refused.code == 24 and len(refused.error_lines) == 1 and config in refused.error_lines[0]
    assert not (tmp_path / "other").exists()

    # planted: an index whose companion path leaves the artifact's folder is refused before any download
    index = json.loads((root / "index.json").read_text())
    next(a for a in index["artifacts"] if a["format"] == "ort")["companions"][0]["path"] = f"elsewhere/{config}"
    (root / "index.json").write_text(json.dumps(index))
    unsafe = invoke(capfd, "pull", "hourglass", "--format", "ort", "--precision", "fp32", "--from", root,
                    "--to", tmp_path / "third")
    assert unsafe.code == 22 and "is not a file beside hourglass/hourglass-fp32.ort" in unsafe.error_lines[0]
    assert not (tmp_path / "third").exists()


def test_predict_runs_the_ort_like_its_onnx(zoo: TinyZoo, tiny_run: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    image = zoo.data_for("hourglass") / "val" / "000000.jpg"
    written = {}
    for suffix in (".onnx", ".ort"):
        result = invoke(capfd, "predict", _folder(tiny_run) / f"hourglass-fp32{suffix}", image,
                        "--out", tmp_path / suffix[1:])
        assert result.code == 0, result.err
        written[suffix] = json.loads((tmp_path / suffix[1:] / f"{image.stem}_keypoints.json").read_text())
    np.testing.assert_allclose(written[".ort"]["people"][0]["pose_keypoints_2d"],
                               written[".onnx"]["people"][0]["pose_keypoints_2d"], atol=1e-3)


def test_an_ort_without_its_onnx_is_a_config_error(zoo: TinyZoo, in_tmp: Path,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    result = invoke(capfd, *zoo.run_args("hourglass"), "--formats", "tflite,ort")
    assert result.code == 12 and result.error_lines == [
        "posepipe: error: --formats: ort is made from the onnx file, so add onnx"], result.err


def test_an_ort_is_made_only_from_a_given_onnx(tmp_path: Path) -> None:
    from posepipe.converters import ConversionRequest

    request = ConversionRequest(None, None, (64, 64), Precision.FP32)  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="made from a passed .onnx file"):
        ORT.convert(request, tmp_path / "x.ort")
    assert not (tmp_path / "x.ort").exists()


def test_a_derived_cell_takes_its_sources_file_only_once_it_passed(tmp_path: Path) -> None:
    """The .ort of a passed .onnx is made from that file (in its staging folder when
    built by this run, else in the run's folder), keyed by its digest; the .ort of
    a failed .onnx is listed as failed with no file."""
    from posepipe.pipeline.engine.pool import Done, Job
    from posepipe.pipeline.run.matrix import MatrixCell, cells
    from posepipe.pipeline.run.sources import Source, derived_sources, unbuilt_entry

    chosen = cells((Format.ONNX, Format.ORT), (Precision.FP32, Precision.FP16, Precision.INT8))
    derived = [c for c in chosen if c.source is not None]
    assert [c.format for c in chosen] == [Format.ONNX] * 3 + [Format.ORT] * 3
    assert [c.source for c in derived] == [c for c in chosen if c.format is Format.ONNX]
    entry = {"validation": {"status": "passed"}, "sha256": "ab" * 32}
    entries = {MatrixCell(Format.ONNX, Precision.FP32): entry | {"file": "m-fp32.onnx"},
               MatrixCell(Format.ONNX, Precision.FP16): entry | {"file": "m-fp16.onnx"},
               MatrixCell(Format.ONNX, Precision.INT8): {"file": "m-int8.onnx", "validation": {"status": "failed"}}}
    staged = Done(Job(MatrixCell(Format.ONNX, Precision.FP16), "m-fp16.onnx", "k"), entries[derived[1].source], (),
                  0.0, tmp_path / ".tmp-x")
    found = derived_sources(derived, entries, [staged], tmp_path)
    assert found[derived[0]] == Source(tmp_path / "m-fp32.onnx", "ab" * 32)  # up to date: in the run's folder
    assert found[derived[1]] == Source(tmp_path / ".tmp-x" / "m-fp16.onnx", "ab" * 32)  # built now: staged
    assert found[derived[2]] == "not made: it is made from m-int8.onnx, which did not pass (failed)"
    failed = unbuilt_entry(tmp_path / "m-int8.ort", derived[2], found[derived[2]])
    assert failed["validation"]["status"] == "failed" and "sha256" not in failed
    assert failed["validation"]["failures"] == [f"conversion failed: {found[derived[2]]}"]
