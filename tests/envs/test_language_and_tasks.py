import numpy as np
import pytest

from vla_flywheel.envs.tabletop.describe import describe_placement
from vla_flywheel.envs.tabletop.language import FAMILIES, TEMPLATES, corpus, is_heldout_combination
from vla_flywheel.envs.tabletop.tasks import Scene, region_of, sample_task


def _words(texts):
    return {w for t in texts for w in t.replace("{", " ").replace("}", " ").split()}


@pytest.mark.parametrize("family", FAMILIES)
def test_splits_keep_combinations_and_paraphrases_apart(family):
    rng = np.random.default_rng(0)
    for split in ("train", "heldout"):
        for _ in range(30):
            scene, task = sample_task(rng, family, split, (3, 6), 2)
            colour = scene.block_colours[task.block]
            assert is_heldout_combination(family, colour, task.target) == (split == "heldout")
            paraphrases = TEMPLATES[family][split]
            assert any(p.split("{")[0] in task.instruction for p in paraphrases)
    assert len(TEMPLATES[family]["train"]) >= 3 and len(TEMPLATES[family]["heldout"]) >= 1
    assert not set(TEMPLATES[family]["train"]) & set(TEMPLATES[family]["heldout"])


def test_heldout_wording_has_words_the_training_corpus_lacks():
    heldout = _words(p for f in FAMILIES for p in TEMPLATES[f]["heldout"])
    assert heldout - _words(corpus())  # e.g. "cube", "target": the tokenizer must cope


def test_grid_regions_follow_the_camera_view():
    assert region_of(np.array([-0.2, 0.2])) == "top left"
    assert region_of(np.array([0.0, 0.0])) == "center"
    assert region_of(np.array([0.2, -0.2])) == "bottom right"
    assert region_of(np.array([0.0, -0.2])) == "bottom center"


def _scene():
    return Scene(
        block_colours=["red", "blue", "green"],
        block_xy=np.array([[0.15, 0.15], [0.0, 0.0], [-0.15, -0.15]]),
        block_yaw=np.zeros(3),
        pad_colours=["yellow"],
        pad_xy=np.array([[0.15, -0.15]]),
    )


@pytest.mark.parametrize(
    "place, text",
    [
        ((0.15, -0.15), "put the red block on the yellow pad"),
        ((0.0, 0.005), "stack the red block on the blue block"),
        ((-0.06, 0.0), "put the red block to the left of the blue block"),
        ((0.0, 0.06), "put the red block behind the blue block"),
        ((0.0, -0.065), "put the red block in front of the blue block"),
        ((-0.2, 0.2), "put the red block in the top left of the table"),
    ],
)
def test_a2l_descriptions_use_lacy_thresholds(place, text):
    assert describe_placement(_scene(), 0, np.array(place)) == text


def test_a2l_describes_an_empty_grasp():
    assert describe_placement(_scene(), None, np.array([0.0, 0.2])).startswith("pick up nothing")
