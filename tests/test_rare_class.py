"""marslab.rare_class: the binary rare-class model and its three merges, by hand (report 003 §4.3)."""
import numpy as np
import pytest

from marslab.rare_class import merge_rare_class, rare_class_model, rare_class_targets, tune_threshold


def probs_of(rows):
    return np.asarray(rows, np.float32).reshape(1, 1, len(rows), 5)


# three pixels: Big Rock second-best (0.35 vs Bedrock 0.4), Big Rock weak (0.1), Big Rock already first
PROBS = probs_of([[0.05, 0.1, 0.4, 0.1, 0.35], [0.0, 0.7, 0.1, 0.1, 0.1], [0.0, 0.1, 0.1, 0.1, 0.7]])
RARE = np.array([[[0.5, 0.9, 0.2]]], np.float32)


def test_threshold_merge_overrides_where_the_binary_model_is_confident():
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE, threshold=0.5), [[[4, 4, 4]]])
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE, threshold=0.8), [[[2, 4, 4]]])
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE, threshold=1.01), [[[2, 1, 4]]])  # argmax alone


def test_replace_and_average_merges_by_hand():
    # replace: Big Rock's column becomes (0.5, 0.9, 0.2): pixel 1 -> 4 (0.5 > 0.4), pixel 2 -> 4 (0.9 > 0.7),
    # pixel 3 -> 4 (0.2 still beats the others' 0.1)
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE, mode="replace"), [[[4, 4, 4]]])
    # average: (0.425, 0.5, 0.45): pixel 1 -> 4 (0.425 > 0.4), pixel 2 -> 1 (0.7 > 0.5), pixel 3 -> 4
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE, mode="average"), [[[4, 1, 4]]])
    # class weights on the argmax, as postprocess.weighted_labels: Big Rock halved to (0.2125, 0.25, 0.225),
    # so pixel 1 -> 2 (0.4), pixel 2 -> 1 (0.7), pixel 3 stays 4 (0.225 > 0.1)
    weights = [0, 1, 1, 1, 0.5]
    np.testing.assert_array_equal(merge_rare_class(PROBS, RARE[..., None], mode="average", class_weights=weights),
                                  [[[2, 1, 4]]])


def test_tune_threshold_picks_the_best_by_the_metric():
    masks = np.array([[[2, 4, 4]]])   # the binary model is right about pixel 2, wrong about pixel 1
    threshold, score = tune_threshold(PROBS, RARE, masks, grid=(0.4, 0.6, 1.01))
    assert threshold == 0.6 and score == pytest.approx(1.0)


def test_targets_and_model_shapes():
    masks = np.array([[[0, 4], [4, 2]]])
    np.testing.assert_array_equal(rare_class_targets(masks), [[[0, 1], [1, 0]]])
    model = rare_class_model(filters=4, depth=2)
    out = model.predict(np.zeros((1, 64, 128, 1), np.float32), verbose=0)
    assert out.shape == (1, 64, 128, 1) and np.all((out > 0) & (out < 1))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="rare_probs"):
        merge_rare_class(PROBS, RARE[..., :2])
    with pytest.raises(ValueError, match="mode"):
        merge_rare_class(PROBS, RARE, mode="max")
    with pytest.raises(ValueError, match="integer labels"):
        rare_class_targets(np.zeros((2, 2)))
