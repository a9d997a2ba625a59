"""Inference helpers: flip TTA, morphological cleanup, two-stage inputs, background merging."""
import keras
import numpy as np
import pytest

from marslab import postprocess as pp


def conv_model(kernel: np.ndarray) -> keras.Model:
    """images (B,64,128,1) -> softmax over 5 channels of a 3x3 'same' convolution with the given kernel."""
    inputs = keras.Input((64, 128, 1))
    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    outputs = keras.layers.Softmax()(conv(inputs))
    model = keras.Model(inputs, outputs)
    conv.set_weights([kernel.astype("float32")])
    return model


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (5, 64, 128), dtype=np.uint8)


def test_tta_of_a_flip_equivariant_model_equals_its_plain_prediction(images):
    k = np.random.default_rng(1).normal(size=(3, 3, 1, 5))
    symmetric = (k + k[::-1] + k[:, ::-1] + k[::-1, ::-1]) / 4  # kernel unchanged by both flips
    model = conv_model(symmetric)
    plain = pp.predict_probs(model, images, batch_size=2, progress=False)
    tta = pp.predict_tta(model, images, batch_size=2, progress=False)
    np.testing.assert_allclose(tta, plain, atol=1e-6)
    np.testing.assert_allclose(plain.sum(-1), 1, atol=1e-5)


def test_tta_averages_flipped_back_predictions(images):
    model = conv_model(np.random.default_rng(2).normal(size=(3, 3, 1, 5)))
    x = images[..., None].astype("float32") / 255
    p = lambda a: model.predict(a, verbose=0)  # noqa: E731
    expected = (p(x) + p(x[:, :, ::-1])[:, :, ::-1] + p(x[:, ::-1])[:, ::-1] + p(x[:, ::-1, ::-1])[:, ::-1, ::-1]) / 4
    tta = pp.predict_tta(model, images, batch_size=3, flips=tuple(pp.FLIPS), progress=False)  # all four
    np.testing.assert_allclose(tta, expected, atol=1e-5)
    assert not np.allclose(tta, p(x), atol=1e-3)  # an asymmetric kernel does change under TTA


def test_an_ensemble_averages_its_members_flipped_back_predictions(images):
    rng = np.random.default_rng(3)
    first, second = (conv_model(rng.normal(size=(3, 3, 1, 5))) for _ in range(2))
    x = images[..., None].astype("float32") / 255
    p = lambda m, a: m.predict(a, verbose=0)  # noqa: E731
    expected = (p(first, x) + p(first, x[:, :, ::-1])[:, :, ::-1] + p(second, x) + p(second, x[:, :, ::-1])[:, :, ::-1]) / 4
    ensemble = pp.predict_probs([first, second], images, batch_size=2, flips=("none", "horizontal"), progress=False)
    np.testing.assert_allclose(ensemble, expected, atol=1e-5)
    np.testing.assert_allclose(pp.predict_probs((first,), images, progress=False), p(first, x), atol=1e-5)
    with pytest.raises(ValueError, match="non-empty list"):
        pp.predict_probs([], images)


def test_predict_rejects_bad_input(images):
    model = conv_model(np.zeros((3, 3, 1, 5)))
    with pytest.raises(ValueError, match="flips"):
        pp.predict_probs(model, images, flips=("sideways",))
    with pytest.raises(ValueError, match="uint8"):
        pp.predict_probs(model, images.astype("float32"))


def test_cleanup_removes_small_regions_and_keeps_large_ones():
    pred = np.ones((64, 128), np.uint8)              # Soil everywhere
    pred[10:40, 20:70] = 2                            # a large Bedrock rectangle: kept exactly
    pred[45:60, 90:120] = 4                           # a large Big Rock rectangle: kept exactly
    expected = pred.copy()
    pred[2:4, 2:4] = 3                                # a 2x2 Sand speck on Soil: removed
    pred[20:23, 40:43] = 1                            # a 3x3 Soil hole in Bedrock: filled with Bedrock
    pred[50, 80:89] = 3                               # a one-pixel-wide line: removed by the opening
    cleaned = pp.cleanup(pred[None], opening=1, closing=1, min_size=16, progress=False)[0]
    np.testing.assert_array_equal(cleaned, expected)


def test_cleanup_min_size_only_and_disabled():
    pred = np.ones((64, 128), np.uint8)
    pred[30:33, 30:35] = 2                            # 15 pixels
    pred[5:10, 5:10] = 3                              # 25 pixels
    cleaned = pp.cleanup(pred[None], opening=0, closing=0, min_size=20, progress=False)[0]
    assert (cleaned[30:33, 30:35] == 1).all() and (cleaned[5:10, 5:10] == 3).all()
    untouched = pp.cleanup(pred[None], opening=0, closing=0, min_size=0, progress=False)[0]
    np.testing.assert_array_equal(untouched, pred)
    with pytest.raises(ValueError, match="min_size"):
        pp.cleanup(pred[None], min_size=-1)


def test_two_stage_inputs_stack_image_and_background_probability(images):
    probs = np.random.default_rng(3).dirichlet(np.ones(5), size=(5, 64, 128)).astype("float32")
    x = pp.two_stage_inputs(images, probs)
    assert x.shape == (5, 64, 128, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], images / 255.0, atol=1e-7)
    np.testing.assert_array_equal(x[..., 1], probs[..., 0])
    with pytest.raises(ValueError):
        pp.two_stage_inputs(images, probs[:4])


def test_predict_two_stage_feeds_the_first_models_background():
    first = conv_model(np.zeros((3, 3, 1, 5)))       # uniform probabilities: background 0.2 everywhere
    inputs = keras.Input((64, 128, 2))
    second = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Conv2D(5, 1, use_bias=False, name="c")(inputs)))
    w = np.zeros((1, 1, 2, 5), "float32")
    w[0, 0, 1, 3] = 50.0                              # class 3 wins where the background channel is > 0
    second.get_layer("c").set_weights([w])
    probs = pp.predict_two_stage(first, second, np.zeros((2, 64, 128), np.uint8), progress=False)
    assert (pp.to_labels(probs) == 3).all()


def test_merge_background():
    probs = np.zeros((1, 64, 128, 5), "float32")
    probs[..., 0] = 0.6
    probs[..., 2] = 0.3                               # background most probable, Bedrock next
    bg = np.zeros((1, 64, 128, 1), "float32")
    bg[0, :32] = 0.9
    merged = pp.merge_background(probs, bg, threshold=0.5)
    assert (merged[0, :32] == 0).all() and (merged[0, 32:] == 2).all()
    assert (pp.merge_background(probs, bg, threshold=1.1) == 2).all()  # never Background


def test_foreground_labels_never_predict_background():
    probs = np.zeros((1, 64, 128, 5), "float32")
    probs[..., 0], probs[..., 1], probs[..., 4] = 0.7, 0.1, 0.2
    assert (pp.foreground_labels(probs) == 4).all()
    assert (pp.to_labels(probs) == 0).all()


def test_weighted_labels_tilt_the_argmax():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=(2, 64, 128)).astype("float32")
    weights = np.array([0.0, 1.0, 2.0, 0.5, 3.0])
    expected = np.argmax(probs * weights.reshape(1, 1, 1, 5), axis=-1)  # NumPy reference
    np.testing.assert_array_equal(pp.weighted_labels(probs, weights), expected)
    np.testing.assert_array_equal(pp.weighted_labels(probs, [0, 1, 1, 1, 1]), pp.foreground_labels(probs))
    np.testing.assert_array_equal(pp.weighted_labels(probs, np.ones(5)), pp.to_labels(probs))
    for bad in ([1, 1, 1, 1], [0, 0, 0, 0, 0], [1, -1, 1, 1, 1]):
        with pytest.raises(ValueError, match="class weights"):
            pp.weighted_labels(probs, bad)


def test_tune_class_weights_recovers_an_under_confident_class():
    """Truth is class c with probability 0.6 for c where the model is right, but the model reports Big
    Rock at a third of its true probability: the tuned weights give Big Rock ~3x the others and score
    clearly higher than the plain foreground argmax; Background stays at weight 0."""
    from marslab.metrics import mean_iou

    rng = np.random.default_rng(1)
    masks = rng.choice(5, size=(60, 64, 128), p=[0.2, 0.3, 0.2, 0.2, 0.1]).astype(np.uint8)
    onehot = np.eye(5, dtype="float32")[masks]
    probs = 0.55 * onehot + 0.45 * rng.dirichlet(np.ones(5), size=masks.shape).astype("float32")
    probs[..., 4] /= 3.0
    probs /= probs.sum(-1, keepdims=True)
    weights = pp.tune_class_weights(probs, masks)
    assert weights[0] == 0 and weights.max() == 1 and np.argmax(weights) == 4
    assert 2.0 <= weights[4] / np.median(weights[1:4]) <= 4.5
    tuned, plain = mean_iou(masks, pp.weighted_labels(probs, weights)), mean_iou(masks, pp.foreground_labels(probs))
    assert tuned > plain + 0.02
    with pytest.raises(ValueError, match="same N"):
        pp.tune_class_weights(probs, masks[:10])


def test_labels_are_the_argmax_of_the_main_output():
    from marslab.models import unet3plus

    model = unet3plus(filters=2, depth=2, cat_channels=2, deep_supervision=True)
    x = np.random.default_rng(0).random((2, 64, 128, 1)).astype("float32")
    preds = pp.to_labels(pp.predict_probs(model, x, progress=False))
    probs = model.predict(x, verbose=0)[model.output_names.index("probs")]
    np.testing.assert_array_equal(preds, probs.argmax(-1))
    with pytest.raises(ValueError, match=r"N, 64, 128, C\) in \[0, 1\]"):
        pp.predict_probs(model, x[..., 0], progress=False)
