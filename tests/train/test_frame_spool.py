"""Training frames live in an on-disk spool, not in memory, and a batch reads back exactly the recorded pixels."""

import numpy as np
import pytest
import torch

from vla_flywheel.constants import ACTION
from vla_flywheel.data import DatasetReader
from vla_flywheel.models.tokenizer import WordTokenizer
from vla_flywheel.train.data import TrainingData
from vla_flywheel.train.frame_spool import FrameSpool

IMAGE = "observation.images.front"


def test_a_batch_holds_the_recorded_frames_of_the_frames_it_drew(ee_delta_demos):
    data = TrainingData.load([ee_delta_demos])
    assert isinstance(data.images[IMAGE], FrameSpool)  # frames are on disk: memory does not grow with the data
    recorded = np.concatenate([e[IMAGE] for e in DatasetReader(ee_delta_demos).iter_episodes()])  # [N, S, S, 3]
    assert data.images[IMAGE].shape == recorded.shape and data.image_size == recorded.shape[1]
    indices = torch.randint(len(data), (16,), generator=torch.Generator().manual_seed(0))
    batch = data.batch(indices, horizon=4, tokenizer=WordTokenizer.from_corpus(data.tasks))
    assert torch.equal(batch[IMAGE], torch.from_numpy(recorded[indices.numpy()]))
    assert batch[ACTION].shape == (16, 4, data.action.shape[1])


def test_a_spool_refuses_frames_of_another_shape():
    spool = FrameSpool((8, 8, 3))
    spool.append(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(16, 16, 3\)"):
        spool.append(np.zeros((1, 16, 16, 3), np.uint8))
    assert len(spool) == 2
