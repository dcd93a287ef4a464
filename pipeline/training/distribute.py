"""The tf.distribute strategy training runs under, chosen by ``--strategy``.

``default``: TensorFlow's default strategy (one replica, no distribution).
``mirrored``: ``MirroredStrategy`` over the visible GPUs, or over the CPU's logical
devices when there is no GPU (``--cpu-replicas N`` splits the CPU into N first,
which must happen before TensorFlow starts its runtime).
``multi-worker``: ``MultiWorkerMirroredStrategy`` with the cluster read from
``TF_CONFIG``; every worker runs the same ``posepipe train`` command.

Each replica takes ``batch_size`` samples a step: the global batch is the
per-replica batch times the replicas, and the training record says both.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from posepipe.pipeline.errors import DistributeError


class StrategyKind(StrEnum):
    DEFAULT = "default"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi-worker"


@dataclass(frozen=True)
class Distribution:
    """A strategy and what the training record says of it."""

    kind: StrategyKind
    strategy: Any  # tf.distribute.Strategy

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def is_chief(self) -> bool:
        """Whether this worker writes the shared outputs (always, but for multi-worker's non-chiefs)."""
        resolver = getattr(self.strategy, "cluster_resolver", None)
        if self.kind is not StrategyKind.MULTI_WORKER or resolver is None:
            return True
        return resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)

    def record(self, per_replica_batch: int) -> dict[str, Any]:
        return {"strategy": str(self.kind), "replicas": self.replicas,
                "devices": [] if self.kind is StrategyKind.DEFAULT else list(self.strategy.extended.worker_devices),
                "batch_size": {"per_replica": per_replica_batch, "global": per_replica_batch * self.replicas}}


def distribution(kind: StrategyKind, cpu_replicas: int | None = None) -> Distribution:
    """The strategy for ``kind``, made before any other TensorFlow work."""
    import tensorflow as tf

    if cpu_replicas is not None:
        split_cpu(cpu_replicas)
    if kind is StrategyKind.DEFAULT:
        return Distribution(kind, tf.distribute.get_strategy())
    if kind is StrategyKind.MIRRORED:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return Distribution(kind, tf.distribute.MirroredStrategy(devices=devices))
    check_tf_config(os.environ.get("TF_CONFIG"))
    _average_scalars_across_workers()
    return Distribution(kind, tf.distribute.MultiWorkerMirroredStrategy())


# Keras 3 (3.15.1 here) cannot run ``fit`` under MultiWorkerMirroredStrategy as it
# ships (keras-team/keras#20585, open). Two places fail, both in
# keras/src/backend/tensorflow/trainer.py, and the two functions below step round
# them through Keras's private names, only for ``--strategy multi-worker``:
# 1. ``_maybe_symbolic_build`` averages the first distributed batch with an eager
#    ``strategy.reduce``, which the collective ops reject ("Attempt to convert a
#    value (PerReplica...) to a Tensor").
# 2. ``reduce_per_replica`` averages every step's scalar loss with
#    ``strategy.reduce("MEAN", v, axis=0)`` ("Invalid reduction dimension 0 for
#    input with 0 dimensions").


def build_for_multi_worker(model: Any, batch: Any) -> None:
    """Build the optimizer and metrics on one plain batch, and make ``fit`` take its
    strategy from the scope it runs in, so it never reaches failure 1."""
    with model.distribute_strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._distribute_strategy = None


def _average_scalars_across_workers() -> None:
    """Failure 2: scalars are averaged over replicas with no axis."""
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "posepipe", False):
        return
    shipped = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("mean", "auto") and trainer._collective_all_reduce_multi_worker(strategy):
            return trainer.tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values)
        return shipped(values, strategy, reduction)

    reduce_per_replica.posepipe = True  # type: ignore[attr-defined]
    trainer.reduce_per_replica = reduce_per_replica


def split_cpu(replicas: int) -> None:
    """Make the CPU ``replicas`` logical devices (a multi-replica strategy on one CPU)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        raise DistributeError(f"--cpu-replicas {replicas}: TensorFlow has already started in this process; "
                              "logical devices must be set before it does") from None


def check_tf_config(text: str | None) -> None:
    """``TF_CONFIG`` as MultiWorkerMirroredStrategy needs it: a cluster and this worker's task in it."""
    if not text:
        raise DistributeError("--strategy multi-worker: TF_CONFIG is not set; set it to "
                              '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": I}} '
                              "on every worker")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise DistributeError(f"--strategy multi-worker: TF_CONFIG is not JSON ({error.msg} at {error.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DistributeError("--strategy multi-worker: TF_CONFIG needs a \"cluster\" and a \"task\" object")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind) if isinstance(kind, str) else None
    if not isinstance(members, list) or not isinstance(index, int) or not 0 <= index < len(members):
        raise DistributeError(f"--strategy multi-worker: TF_CONFIG task {task} is not in its cluster "
                              f"({', '.join(f'{k}: {len(v)}' for k, v in cluster.items())})")
