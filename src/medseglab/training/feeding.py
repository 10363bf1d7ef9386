"""Feeding a training: batches of raw 0..255 float images and integer masks, shuffled per epoch.

The models package compiles for integer targets (sparse cross-entropy): y is int32 (B, H, W).

Both feeders are `keras.utils.PyDataset`s whose order is a pure function of (seed, epoch), so a
training resumed at epoch k sees the same batches as one that never stopped, and the in-memory
and streaming feeders give the same training. A train set whose uint8 pixels fit
``train.in_memory_mb`` is held in memory; a bigger one streams from the prepared PNGs with
parallel decode (PyDataset worker threads) and a prefetch queue.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from medseglab.training.augment import augment_batch, check_augment

DEFAULT_IN_MEMORY_MB = 2048


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The image order of one epoch: a permutation fixed by (seed, epoch)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


class _Batches(keras.utils.PyDataset):
    """Shared epoch bookkeeping: ``epoch`` advances in ``on_epoch_end`` (Keras calls it once per epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool, initial_epoch: int = 0,
                 augment=None, **kwargs):
        super().__init__(**kwargs)
        self.augment = check_augment(augment)
        if n == 0:
            raise ValueError("no images to feed: the train set is empty")
        self.n = int(n)
        self.batch_size = max(1, int(batch_size))
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = int(initial_epoch)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def indices(self, index: int) -> np.ndarray:
        order = epoch_order(self.n, self.seed, self.epoch) if self.shuffle else np.arange(self.n)
        return order[index * self.batch_size:(index + 1) * self.batch_size]

    def batch(self, images, masks, index: int):
        """float32 images and int32 masks of batch ``index``, augmented as ``train.augment`` says."""
        images, masks = augment_batch(np.asarray(images, dtype=np.float32), np.asarray(masks, dtype=np.int32),
                                      self.augment, self.seed, self.epoch, index)
        return images, masks

    def on_epoch_end(self) -> None:
        self.epoch += 1


class ArrayBatches(_Batches):
    """Batches from uint8 arrays held in memory (images N x H x W x 3, masks N x H x W)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, batch_size: int, seed: int = 0,
                 shuffle: bool = True, initial_epoch: int = 0, augment=None):
        super().__init__(len(images), batch_size, seed, shuffle, initial_epoch, augment)
        self.images = images
        self.masks = masks

    def __getitem__(self, index: int):
        idx = self.indices(index)
        return self.batch(self.images[idx], self.masks[idx], index)


class StreamingBatches(_Batches):
    """Batches decoded from the prepared dataset's PNGs by worker threads, with a prefetch queue."""

    def __init__(self, prepared, image_ids, batch_size: int, seed: int = 0, shuffle: bool = True,
                 initial_epoch: int = 0, workers: int | None = None, max_queue_size: int = 8, augment=None):
        workers = workers or min(4, os.cpu_count() or 1)
        super().__init__(len(image_ids), batch_size, seed, shuffle, initial_epoch, augment,
                         workers=workers, use_multiprocessing=False, max_queue_size=max_queue_size)
        self.prepared = prepared
        self.image_ids = np.asarray(list(image_ids), dtype=object)

    def __getitem__(self, index: int):
        ids = list(self.image_ids[self.indices(index)])
        images = self.prepared.load_images(ids)
        masks = self.prepared.load_masks(ids)
        return self.batch(images, masks, index)


def fits_in_memory(n_images: int, image_size, budget_mb: float | None) -> bool:
    """Whether uint8 images + masks of ``n_images`` at ``image_size`` [W, H] fit the budget."""
    width, height = int(image_size[0]), int(image_size[1])
    need = n_images * width * height * 4  # 3 image bytes + 1 mask byte per pixel
    budget = DEFAULT_IN_MEMORY_MB if budget_mb is None else float(budget_mb)
    return need <= budget * (1 << 20)


def make_batches(prepared, image_ids, batch_size: int, seed: int, image_size, *, initial_epoch: int = 0,
                 in_memory_mb: float | None = None, shuffle: bool = True, workers: int | None = None,
                 augment=None):
    """The feeder for a train (or validation) set: in memory when it fits the budget, else streaming;
    ``augment`` is the `train.augment` switches (training batches only)."""
    image_ids = list(image_ids)
    if fits_in_memory(len(image_ids), image_size, in_memory_mb):
        images = np.asarray(prepared.load_images(image_ids), dtype=np.uint8)
        masks = np.asarray(prepared.load_masks(image_ids), dtype=np.uint8)
        return ArrayBatches(images, masks, batch_size, seed, shuffle, initial_epoch, augment)
    return StreamingBatches(prepared, image_ids, batch_size, seed, shuffle, initial_epoch, workers=workers,
                            augment=augment)
