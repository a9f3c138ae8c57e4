"""The torch engine's two batch pipelines, chosen by the recipe's ``augment_device``
(see :func:`batch_pipeline`).

``numpy`` (:class:`HostBatches`) augments on the CPU and copies each batch to the device;
``torch`` (:class:`DeviceBatches`) keeps the whole training set on the device as uint8 and
indexes, augments and normalizes batches there, so a GPU never waits for the host. The model
code is the same for both; only the batches differ. Both draw their randomness from generators
seeded by ``(seed, epoch)``, so a resumed run sees the batches the uninterrupted one would.
:mod:`digitkit.train.loop` (which still exports these names) runs the epochs over them.
"""

from __future__ import annotations

import numpy as np
import torch

from digitkit.data.augment import AugmentConfig, augment_batch
from digitkit.data.normalize import InputSpec
from digitkit.train import augment_torch, distributed
from digitkit.train.recipes import Recipe


class HostBatches:
    """Batches augmented by the NumPy augmenter on the CPU, then copied to the device."""

    kind = "numpy"

    def __init__(
        self,
        input_spec: InputSpec,
        aug: AugmentConfig,
        seed: int,
        dist: distributed.DistContext,
        device: torch.device,
    ):
        self.spec, self.aug, self.seed, self.dist, self.device = input_spec, aug, seed, dist, device
        self.order = np.arange(0)
        self.rng = np.random.default_rng()

    def load(self, images: np.ndarray, labels: np.ndarray) -> None:
        """Take a training set: uint8 (N, 28, 28) images and their labels."""
        self.x01 = images.astype(np.float32) / 255.0
        self.y = torch.from_numpy(labels)
        # Without augmentation every epoch feeds the same inputs: prepare them once.
        self.prepared = None if self.aug.enabled else torch.from_numpy(self.spec.prepare(self.x01))

    def start_epoch(self, epoch: int, order: np.ndarray) -> None:
        self.order = order
        self.rng = np.random.default_rng([self.seed, epoch, 1])

    def batch(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch ``order[lo:hi]``, on the device."""
        idx = self.order[lo:hi]
        # Every rank augments the whole global batch (same generator) and keeps its share,
        # so each step sees exactly the images of a single-process run.
        part = self.dist.shard(np.arange(len(idx)))
        if self.prepared is not None:
            xb = self.prepared[idx[part]]
        else:
            xb = torch.from_numpy(
                self.spec.prepare(augment_batch(self.x01[idx], self.aug, self.rng)[part])
            )
        return (
            xb.to(self.device, non_blocking=True),
            self.y[idx[part]].to(self.device, non_blocking=True),
        )


class DeviceBatches:
    """The whole training set resident on the device as uint8; batches are indexed,
    augmented (digitkit.train.augment_torch) and normalized there."""

    kind = "torch"

    def __init__(
        self,
        input_spec: InputSpec,
        aug: AugmentConfig,
        seed: int,
        dist: distributed.DistContext,
        device: torch.device,
    ):
        self.spec, self.aug, self.seed, self.dist, self.device = input_spec, aug, seed, dist, device
        self.order = torch.zeros(0, dtype=torch.long, device=device)
        self.generator = augment_torch.epoch_generator(seed, 0, device)

    def load(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        self.y = torch.from_numpy(labels).to(self.device)

    def start_epoch(self, epoch: int, order: np.ndarray) -> None:
        # The NumPy permutation, so both pipelines visit the images in the same order.
        self.order = torch.from_numpy(order).to(self.device)
        augment_torch.seed_for_epoch(self.generator, self.seed, epoch)

    def batch(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch_of(self.order[lo:hi])

    def batch_of(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the training images ``idx`` (a device tensor), augmented and
        prepared: what a CUDA-graph step reads from a fixed index tensor."""
        images = augment_torch.augment_batch(self.x[idx], self.aug, self.generator)
        rank, world = self.dist.rank, self.dist.world_size
        return (
            augment_torch.prepare_inputs(images[rank::world], self.spec),
            self.y[idx[rank::world]],
        )


def batch_pipeline(recipe: Recipe, device: torch.device) -> type[HostBatches | DeviceBatches]:
    """The pipeline the recipe's ``augment_device`` names; ``auto`` keeps a GPU fed from its
    own memory and leaves the CPU on the (faster there) NumPy augmenter."""
    choice = recipe.augment_device
    if choice == "auto":
        choice = "numpy" if device.type == "cpu" else "torch"
    return DeviceBatches if choice == "torch" else HostBatches
