"""The checkpoint stage: load the user's checkpoint (.keras, .h5 or SavedModel:
checkpoint_formats.py; nothing in it is run) and prove it is the architecture asked
for, or train the default schedule once and reuse it."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posepipe.calibration.coco import CocoKeypoints
from posepipe.calibration.samples import load_samples
from posepipe.models.spec import ModelSpec, TrainSchedule
from posepipe.pipeline.engine.atomic import atomic_path, remove, replace, write_json
from posepipe.pipeline.engine.console import Console
from posepipe.pipeline.engine.hashing import key, sha256_path
from posepipe.pipeline.engine.keys import TRAINING_SOURCES, code_key
from posepipe.pipeline.engine.versions import tool_versions
from posepipe.pipeline.errors import CheckpointError
from posepipe.pipeline.run.checkpoint_formats import CheckpointFormat, read_checkpoint
from posepipe.pipeline.run.data import Data
from posepipe.pipeline.training.distribute import Distribution
from posepipe.validators.accuracy.task import TaskMetric

if TYPE_CHECKING:  # pipeline.train imports Keras: only when training runs
    from posepipe.pipeline.training.train import EpochStore, Resume

MODEL_FILE = "model.keras"
RECORD_FILE = "training.json"
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sha256: str
    trained_here: bool
    record: Path | None
    weights_sha256: str = ""  # see weights_sha256(): what artifacts are keyed and labelled by
    format: CheckpointFormat = CheckpointFormat.KERAS  # the container: the weights digest is the same in any

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "weights_sha256": self.weights_sha256,
                "trained_here": self.trained_here, "record": str(self.record) if self.record else None,
                "format": str(self.format)}


def weights_sha256(model: Any) -> str:
    """The digest of the weight arrays (paths, shapes, dtypes, bytes): what an
    artifact is made of. A .keras file's own sha256 changes with its save time,
    so artifacts name their weights by this instead and come out byte-identical
    from the same weights however often they are saved."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        array = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{weight.path}:{array.dtype}:{array.shape}".encode() + b"\0")
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_checkpoint(path: Path, spec: ModelSpec, config: Any) -> Any:
    """The Keras model in ``path`` (a .keras or .h5 file or a SavedModel folder:
    checkpoint_formats.py), checked against what ``spec`` builds from ``config``."""
    return read_checkpoint(path, spec, config).model


def trained_checkpoint(spec: ModelSpec, config: Any, schedule: TrainSchedule, data: Data,
                       cache: Path, console: Console, seed: int = 0) -> Checkpoint:
    """The default checkpoint for these settings: trained once, then reused."""
    code = code_key(spec, *TRAINING_SOURCES)  # this model's code: editing another model retrains only that one
    stage_key = key(spec.name, asdict(config), asdict(schedule), data.fingerprint, seed, tool_versions(), code,
                    asdict(spec.keypoints))  # two 14-keypoint sets share a config, not a meaning
    folder = cache / "checkpoints" / f"{spec.name}-{stage_key[:12]}"
    if (folder / MODEL_FILE).is_file():
        console.step(f"checkpoint: up to date ({folder / MODEL_FILE})")
    else:
        train_into(folder, spec, config, schedule, data, console, seed)
    return Checkpoint(folder / MODEL_FILE, sha256_path(folder / MODEL_FILE), True, folder / RECORD_FILE)


def partial_folder(folder: Path) -> Path:
    """Where a training into ``folder`` keeps its finished epochs until it completes."""
    return folder.with_name(folder.name + PARTIAL_SUFFIX)


def train_into(folder: Path, spec: ModelSpec, config: Any, schedule: TrainSchedule, data: Data,
               console: Console, seed: int = 0, resume_from: int | None = None, resume_last: bool = False,
               strategy: Distribution | None = None) -> dict[str, Any]:
    """Train and write ``folder/model.keras``, ``folder/training.json`` and every
    epoch's weights (``folder/epochs/``).

    Epochs are written as they end into ``<folder>.partial/``, which becomes
    ``folder`` (one rename) only when training completes. A later training with the
    same settings resumes after the partial folder's last complete epoch, so an
    interrupted training (Ctrl-C, a killed process) loses at most one epoch.
    ``resume_from``: continue from that epoch of an earlier training (the partial
    folder's, else ``folder``'s); ``resume_last``: from its last complete epoch."""
    from posepipe.pipeline.training.distribute import StrategyKind, distribution
    from posepipe.pipeline.training.train import EpochStore, train_model

    strategy = strategy or distribution(StrategyKind.DEFAULT)
    partial = partial_folder(folder)
    run_key = key(spec.name, asdict(config), asdict(schedule), data.fingerprint, seed, strategy.replicas,
                  asdict(spec.keypoints))
    resume = _resume(folder, partial, run_key, resume_from, resume_last, console)
    console.step(f"checkpoint: training {spec.name} on {data.root}"
                 + (f", resuming after epoch {resume.epoch}" if resume else "")
                 + (f" ({strategy.kind}, {strategy.replicas} replicas)" if strategy.replicas > 1 else ""))
    size = config.input_size
    splits = [CocoKeypoints.load(data.root, split, spec.keypoints) for split in ("train", "val")]
    for note in filter(None, (split.skipped_note() for split in splits)):
        console.note(note)
    train = load_samples(splits[0], spec.topology, size, schedule.train_images)
    val = load_samples(splits[1], spec.topology, size, schedule.val_images)
    store = EpochStore(partial, RECORD_FILE, {"key": run_key})
    _prepare_partial(store, folder, resume)
    model, record = train_model(spec, config, schedule, train, val, console, seed, store, resume, strategy)
    record["data"] = {"root": str(data.root), "fingerprint": data.fingerprint}
    with atomic_path(partial / MODEL_FILE) as temp:
        model.save(temp)
    write_json(partial / RECORD_FILE, record)
    replace(partial, folder)
    metric = TaskMetric(record["metric"])
    console.note(f"val {metric.label} {record[f'val_{metric}']:.3f} after {record['seconds']:.0f}s; wrote {folder}")
    return record


def _resume(folder: Path, partial: Path, run_key: str, resume_from: int | None, resume_last: bool,
            console: Console) -> Resume | None:
    """Where training starts: an asked-for epoch, the last complete one, or (unasked)
    the last complete epoch of an interrupted training with the same settings."""
    from posepipe.pipeline.training.train import Resume, last_epoch

    if resume_from is not None or resume_last:
        in_partial = last_epoch(partial, RECORD_FILE) or 0
        epoch = resume_from if resume_from is not None else in_partial or last_epoch(folder, RECORD_FILE)
        if epoch is None:
            raise CheckpointError(f"--resume: no complete epoch in {partial} or {folder} "
                                  f"(train with --out {folder} first)")
        return Resume.read(partial if in_partial >= epoch else folder, epoch, RECORD_FILE)
    done = last_epoch(partial, RECORD_FILE)
    if done is None:
        return None
    if json.loads((partial / RECORD_FILE).read_text()).get("key") != run_key:
        console.note(f"{partial}: an interrupted training of other settings; starting afresh")
        return None
    console.note(f"{partial}: an interrupted training of these settings; resuming after epoch {done}")
    return Resume.read(partial, done, RECORD_FILE)


def _prepare_partial(store: EpochStore, folder: Path, resume: Resume | None) -> None:
    """The partial folder holding exactly the epochs training resumes after (none
    when it starts afresh), copied from ``folder`` when resuming a finished one."""
    from posepipe.pipeline.training.train import EPOCHS_DIR, epoch_weights

    partial = store.folder
    kept = {epoch_weights(partial, e) for e in range(1, resume.epoch + 1)} if resume else set()
    from_partial = resume is not None and resume.weights.parent.parent == partial
    if not from_partial:
        remove(partial)
    (partial / EPOCHS_DIR).mkdir(parents=True, exist_ok=True)
    for path in (partial / EPOCHS_DIR).iterdir():
        if path not in kept:
            path.unlink()
    for path in sorted(kept - set((partial / EPOCHS_DIR).iterdir())):
        shutil.copy2(folder / EPOCHS_DIR / path.name, path)
    store.write_record(resume.record if resume else [])
