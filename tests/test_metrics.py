"""The competition metric against a plain NumPy reference, its Keras twin over an epoch, and bad input."""
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from marslab import metrics

ROOT = Path(__file__).resolve().parents[1]


def reference_cm(y_true, y_pred, num_classes=5):
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(np.ravel(y_true), np.ravel(y_pred)):
        cm[t, p] += 1
    return cm


def reference_mean_iou(y_true, y_pred, num_classes=5, all_pixels=False):
    """Competition metric written out: drop true-background pixels, IoU per class 1.., skip empty classes."""
    t, p = np.ravel(y_true), np.ravel(y_pred)
    if not all_pixels:
        t, p = t[t != 0], p[t != 0]
    ious = []
    for c in range(1, num_classes):
        inter = np.sum((t == c) & (p == c))
        union = np.sum((t == c) | (p == c))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def random_labels(rng, shape, classes=(0, 1, 2, 3, 4)):
    return rng.choice(np.array(classes), size=shape)


def test_confusion_matrix_matches_loop_reference():
    rng = np.random.default_rng(0)
    y_true, y_pred = random_labels(rng, (3, 8, 16)), random_labels(rng, (3, 8, 16))
    cm = metrics.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, reference_cm(y_true, y_pred))
    rows = metrics.confusion_matrix(y_true, y_pred, normalize="true")
    np.testing.assert_allclose(rows, cm / cm.sum(1, keepdims=True))
    np.testing.assert_allclose(metrics.confusion_matrix(y_true, y_pred, normalize="all").sum(), 1.0)
    cols = metrics.confusion_matrix(y_true, y_pred, normalize="pred")
    np.testing.assert_allclose(cols.sum(0), 1.0)


@pytest.mark.parametrize("truth_classes,pred_classes", [
    ((0, 1, 2, 3, 4), (0, 1, 2, 3, 4)),
    ((0, 1, 2), (0, 1, 2, 3)),          # Sand only predicted, Big Rock absent from both
    ((0, 2, 4), (1, 2)),                # classes present in truth but never predicted
])
@pytest.mark.parametrize("all_pixels", [False, True])
def test_mean_iou_matches_reference_with_absent_classes(truth_classes, pred_classes, all_pixels):
    rng = np.random.default_rng(1)
    y_true = random_labels(rng, (4, 8, 16), truth_classes)
    y_pred = random_labels(rng, (4, 8, 16), pred_classes)
    assert metrics.mean_iou(y_true, y_pred, all_pixels=all_pixels) == pytest.approx(
        reference_mean_iou(y_true, y_pred, all_pixels=all_pixels))


def test_background_predictions_are_free_in_the_competition_metric():
    y_true = np.array([[0, 0, 1, 2]])
    assert metrics.mean_iou(y_true, np.array([[3, 4, 1, 2]])) == 1.0
    assert metrics.mean_iou(y_true, np.array([[3, 4, 1, 2]]), all_pixels=True) < 1.0


def test_per_class_iou_nan_where_undefined():
    iou = metrics.per_class_iou(np.array([[0, 1, 1]]), np.array([[0, 1, 2]]))
    assert np.isnan(iou[0]) and np.isnan(iou[3]) and np.isnan(iou[4])
    assert iou[1] == pytest.approx(0.5) and iou[2] == 0.0


def test_toy_example_shows_three_different_numbers():
    # Worked by hand: competition (1 + 1/3 + 1/2) / 3; all pixels (2/3 + 1/3 + 1/3) / 3;
    # MeanIoU(ignore_class=0) adds a class-0 term of 0: (0 + 1 + 1/3 + 1/2) / 4.
    values = list(metrics.iou_variants(*metrics.toy_example()).values())
    assert values[0] == pytest.approx(11 / 18)
    assert values[1] == pytest.approx(4 / 9) and values[2] == pytest.approx(4 / 9, abs=1e-6)
    assert values[3] == pytest.approx(11 / 24, abs=1e-6)


@pytest.mark.parametrize("y_true,y_pred,error,match", [
    (np.zeros((2, 4), int), np.zeros((2, 5), int), ValueError, "same shape"),
    (np.zeros((2, 4), int), np.zeros((2, 4, 5), np.float32), TypeError, "integer"),
    (np.zeros((2, 4), np.float32), np.zeros((2, 4), int), TypeError, "integer"),
    (np.full((2, 4), 5), np.zeros((2, 4), int), ValueError, "0..4"),
    (np.full((2, 4), -1), np.zeros((2, 4), int), ValueError, "0..4"),
    (np.zeros((2, 4), int), np.zeros((2, 4), int), ValueError, "undefined"),
])
def test_bad_input_is_named(y_true, y_pred, error, match):
    with pytest.raises(error, match=match):
        metrics.mean_iou(y_true, y_pred)


def test_bad_normalize_and_matrix():
    with pytest.raises(ValueError, match="normalize"):
        metrics.normalize_confusion(np.eye(5), "rows")
    with pytest.raises(ValueError, match="square"):
        metrics.iou_from_confusion(np.ones((5, 4)))


def identity_model(shape):
    inputs = keras.Input(shape)
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    return model


@pytest.mark.parametrize("all_pixels", [False, True])
def test_keras_metric_equals_numpy_over_an_epoch(all_pixels):
    rng = np.random.default_rng(2)
    probs = rng.random((10, 8, 16, 5)).astype(np.float32)
    labels = random_labels(rng, (10, 8, 16))
    labels[:4][labels[:4] == 4] = 1        # first batches lack Big Rock
    model = identity_model((8, 16, 5))
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[metrics.CompetitionMeanIoU(all_pixels=all_pixels)])
    result = model.evaluate(probs, labels[..., None], batch_size=3, verbose=0, return_dict=True)
    expected = reference_mean_iou(labels, probs.argmax(-1), all_pixels=all_pixels)
    assert result["mean_iou"] == pytest.approx(expected, abs=1e-6)


def test_keras_metric_reset_and_serialization(tmp_path):
    metric = metrics.CompetitionMeanIoU(name="miou")
    y = np.array([[[0, 1], [2, 3]]])
    probs = np.eye(5, dtype=np.float32)[np.array([[[2, 1], [2, 3]]])]
    metric.update_state(y, probs)
    assert float(metric.result()) == pytest.approx(reference_mean_iou(y, probs.argmax(-1)))
    metric.reset_state()
    assert float(metric.result()) == 0.0
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert isinstance(clone, metrics.CompetitionMeanIoU) and clone.name == "miou"
    model = identity_model((2, 2, 5))
    model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
    model.evaluate(probs, y, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(probs, y, verbose=0, return_dict=True)["miou"] == pytest.approx(
        reference_mean_iou(y, probs.argmax(-1)))


def test_keras_metric_rejects_sample_weight():
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.CompetitionMeanIoU().update_state(np.zeros((1, 2, 2)), np.ones((1, 2, 2, 5)), np.ones((1, 2, 2)))


def test_plot_confusion_matrix_draws_each_cell():
    import matplotlib
    matplotlib.use("Agg")
    ax = metrics.plot_confusion_matrix(reference_cm([0, 1, 2, 3, 4, 1], [0, 1, 2, 3, 3, 2]))
    assert len(ax.texts) == 25


@pytest.mark.parametrize("module", ["marslab/metrics.py", "marslab/losses.py"])
def test_no_tensorflow_in_metrics_and_losses(module):
    source = (ROOT / module).read_text()
    assert not re.search(r"^\s*(import|from)\s+tensorflow|\btf\.", source, re.MULTILINE)


def test_keras_metric_reads_labels_from_packed_boundary_targets():
    from marslab.losses import boundary_targets

    rng = np.random.default_rng(3)
    labels = random_labels(rng, (2, 6, 8))
    probs = rng.random((2, 6, 8, 5)).astype(np.float32)
    for y in (labels, labels[..., None], boundary_targets(labels)):
        metric = metrics.CompetitionMeanIoU()
        metric.update_state(y, probs)
        assert float(metric.result()) == pytest.approx(reference_mean_iou(labels, probs.argmax(-1)), abs=1e-6)


def test_tests_run_on_the_backend_keras_backend_names():
    """CI's JAX leg sets KERAS_BACKEND=jax: these tests must then really run on JAX, not fall back."""
    import os

    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_per_image_scores_match_the_metric_image_by_image():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, (4, 64, 128)).astype("uint8")
    pred = np.where(rng.random(true.shape) < 0.7, true, rng.integers(0, 5, true.shape)).astype("uint8")
    true[3] = 0                                   # nothing to score in image 3
    scores = metrics.per_image_scores(true, pred)
    for i in range(3):
        assert scores[i] == pytest.approx(metrics.mean_iou(true[i:i + 1], pred[i:i + 1]))
    assert np.isnan(scores[3])
    half = np.ones((1, 64, 128), "uint8")
    half_pred = half.copy()
    half_pred[0, :32] = 2                          # Soil IoU 1/2, Bedrock IoU 0 -> mean 0.25
    assert metrics.per_image_scores(half, half_pred)[0] == pytest.approx(0.25)
