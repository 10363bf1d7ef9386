"""Feeders: per-epoch order fixed by (seed, epoch); in-memory and streaming give the same batches."""

from __future__ import annotations

import numpy as np

from medseglab.training.feeding import ArrayBatches, StreamingBatches, epoch_order, fits_in_memory, make_batches


def test_epoch_order_is_a_seeded_permutation_per_epoch():
    a = epoch_order(10, seed=3, epoch=0)
    assert sorted(a) == list(range(10))
    np.testing.assert_array_equal(a, epoch_order(10, seed=3, epoch=0))
    assert not np.array_equal(a, epoch_order(10, seed=3, epoch=1))
    assert not np.array_equal(a, epoch_order(10, seed=4, epoch=0))


def test_memory_budget_decides_the_feeder():
    assert fits_in_memory(100, [64, 64], budget_mb=2)        # 100 * 64 * 64 * 4 bytes = 1.6 MB
    assert not fits_in_memory(200, [64, 64], budget_mb=2)


def test_streaming_and_in_memory_feed_the_same_batches(tiny_data):
    _, prepared, _ = tiny_data
    ids = prepared.ids[:7]
    memory = make_batches(prepared, ids, 3, seed=5, image_size=[32, 32], initial_epoch=1, in_memory_mb=100)
    stream = make_batches(prepared, ids, 3, seed=5, image_size=[32, 32], initial_epoch=1, in_memory_mb=0, workers=2)
    assert isinstance(memory, ArrayBatches) and isinstance(stream, StreamingBatches)
    assert len(memory) == len(stream) == 3
    for epoch in range(2):
        for index in range(len(memory)):
            (xm, ym), (xs, ys) = memory[index], stream[index]
            assert xm.dtype == np.float32 and ym.dtype == np.int32 and xm.shape[1:] == (32, 32, 3)
            np.testing.assert_array_equal(xm, xs)
            np.testing.assert_array_equal(ym, ys)
        memory.on_epoch_end()
        stream.on_epoch_end()
    assert memory.epoch == 3


def test_resumed_feeder_repeats_the_epoch_it_resumes(tiny_data):
    _, prepared, _ = tiny_data
    ids = prepared.ids[:6]
    fresh = make_batches(prepared, ids, 2, seed=1, image_size=[32, 32])
    fresh.on_epoch_end()  # epoch 0 done
    resumed = make_batches(prepared, ids, 2, seed=1, image_size=[32, 32], initial_epoch=1)
    for index in range(len(fresh)):
        np.testing.assert_array_equal(fresh[index][0], resumed[index][0])
    unshuffled = make_batches(prepared, ids, 4, seed=1, image_size=[32, 32], shuffle=False)
    np.testing.assert_array_equal(unshuffled[0][1], prepared.load_masks(ids[:4]).astype(np.int32))
