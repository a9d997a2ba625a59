"""Issue 27's review points that a test can hold: TTA uses the training augmentation's flips, the submission
step names its reading of the metric, figures name their profile and draw the legend's colours, the README
teaches the exercises' check API, and no lesson writes into notebooks/."""
import ast
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from marslab import augment
from marslab import postprocess as pp
from marslab.submission import READINGS, read_csv, score, submission_labels, to_csv

ROOT = Path(__file__).resolve().parents[1]


def conv_model(seed: int) -> keras.Model:
    """images (B,64,128,1) -> softmax of an asymmetric 3x3 convolution: its answer changes under any flip."""
    inputs = keras.Input((64, 128, 1))
    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False)
    model = keras.Model(inputs, keras.layers.Softmax()(conv(inputs)))
    conv.set_weights([np.random.default_rng(seed).normal(size=(3, 3, 1, 5)).astype("float32")])
    return model


# --- TTA: the flips training used -------------------------------------------------------------------------

def flips_applied(augmentation, image: np.ndarray) -> set[str]:
    """Which flips (names of pp.FLIPS) the augmentation's layers produced on 16 copies of an asymmetric image,
    told apart by comparing pixels with NumPy flips of it."""
    images = np.repeat(image[None], 16, axis=0)
    out, _ = augment.augment_arrays(augmentation, images, np.zeros((16, 64, 128), np.uint8))
    seen = set()
    for x in out:
        names = [name for name, axes in pp.FLIPS.items() if np.array_equal(x, np.flip(image[None], axes)[0])]
        assert len(names) == 1, "the augmentation produced something other than a flip"
        seen.add(names[0])
    return seen


@pytest.mark.parametrize("flip", [True, "horizontal", "vertical", "horizontal_and_vertical"])
def test_tta_flips_are_the_flips_the_augmentation_applies(flip):
    image = np.random.default_rng(0).integers(0, 256, (64, 128), dtype=np.uint8)  # no symmetry at all
    augmentation = augment.build_augmentation(flip=flip, seed=3)
    assert flips_applied(augmentation, image) == set(pp.augmentation_flips(augmentation))


def test_default_tta_is_the_default_augmentation_flip_horizontal_only():
    assert pp.augmentation_flips(None) == pp.augmentation_flips(augment.build_augmentation("geometric"))
    assert pp.augmentation_flips(None) == ("none", "horizontal")
    assert pp.augmentation_flips(augment.build_augmentation("photometric")) == ("none",)
    model = conv_model(1)
    images = np.random.default_rng(2).integers(0, 256, (3, 64, 128), dtype=np.uint8)
    x = images[..., None].astype("float32") / 255
    p = lambda a: model.predict(a, verbose=0)  # noqa: E731
    expected = (p(x) + p(x[:, :, ::-1])[:, :, ::-1]) / 2  # image and its left-right mirror, never upside down
    np.testing.assert_allclose(pp.predict_tta(model, images, progress=False), expected, atol=1e-5)
    vertical = (p(x) + p(x[:, ::-1])[:, ::-1]) / 2
    np.testing.assert_allclose(pp.predict_tta(model, images, flips=("none", "vertical"), progress=False), vertical,
                               atol=1e-5)
    with pytest.raises(TypeError, match="augmentation must be"):
        pp.augmentation_flips("horizontal")


# --- the submission's two readings of the metric -------------------------------------------------------------

def reference_iou(truth: np.ndarray, pred: np.ndarray, all_pixels: bool) -> float:
    """Mean IoU of classes 1-4, from pixel sets, on every pixel or on the pixels whose true label is not 0."""
    keep = np.ones(truth.shape, bool) if all_pixels else truth != 0
    t, p = truth[keep], pred[keep]
    ious = [np.sum((t == c) & (p == c)) / np.sum((t == c) | (p == c)) for c in range(1, 5)
            if np.sum((t == c) | (p == c))]
    return float(np.mean(ious))


def test_each_reading_chooses_and_scores_its_labels(tmp_path):
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(5), size=(3, 64, 128)).astype("float32")
    probs[..., 0] *= 3  # Background often the most probable class
    probs /= probs.sum(-1, keepdims=True)
    truth = rng.integers(0, 5, (3, 64, 128)).astype(np.uint8)
    default = submission_labels(probs)
    assert READINGS[0] == "ignore_true_background" and default.min() >= 1
    np.testing.assert_array_equal(default, np.argmax(probs[..., 1:], -1) + 1)
    everything = submission_labels(probs, reading="all_pixels")
    np.testing.assert_array_equal(everything, np.argmax(probs, -1))
    assert (everything == 0).mean() > 0.3
    background = rng.random((3, 64, 128))
    merged = submission_labels(probs, reading="all_pixels", background_probs=background, threshold=0.7)
    np.testing.assert_array_equal(merged, np.where(background >= 0.7, 0, default))
    for reading, labels in (("ignore_true_background", default), ("all_pixels", everything)):
        to_csv(labels, tmp_path / f"{reading}.csv", progress=False)
        for scored_as in READINGS:
            assert score(tmp_path / f"{reading}.csv", truth, reading=scored_as) == pytest.approx(
                reference_iou(truth, labels, all_pixels=scored_as == "all_pixels"))
    with pytest.raises(ValueError, match="reading must be one of"):
        submission_labels(probs, reading="all")
    with pytest.raises(ValueError, match="background_probs is for reading='all_pixels'"):
        submission_labels(probs, background_probs=background)
    assert read_csv(tmp_path / "all_pixels.csv", progress=False).shape == truth.shape


# --- figures -------------------------------------------------------------------------------------------------

def test_figures_name_their_profile_label_rows_by_dataset_index_and_draw_legend_colours(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from marslab.plots import PALETTE, show_pair, show_samples

    monkeypatch.setenv("MARSLAB_PROFILE", "full")
    images = np.full((4, 64, 128), 60, np.uint8)  # dark ground: where a blend turns Sand olive
    masks = np.full((4, 64, 128), 3, np.uint8)
    fig = show_samples(images, masks, masks, n=2, index=[1, 3], ids=np.array([10, 11, 12, 13]))
    assert "profile: full" in [t.get_text() for t in fig.texts]
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["image 11", "image 13"]
    drawn = np.asarray(fig.axes[1].get_images()[0].get_array())
    assert (drawn == PALETTE[3]).all()  # Sand in exactly the legend's colour
    plt.close(fig)
    fig = show_pair(images[0], {"mask": masks[0]})
    assert "profile: full" in [t.get_text() for t in fig.texts]
    plt.close(fig)
    with pytest.raises(ValueError, match="ids must hold one dataset index per image"):
        show_samples(images, masks, ids=[1, 2])


# --- orientation ---------------------------------------------------------------------------------------------

def notebook_code(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def test_readme_teaches_the_check_api_the_exercises_use():
    readme = (ROOT / "README.md").read_text()
    taught = set(re.findall(r"check\.q\d+\((?:\w+)?\)|check\.q\d+\.\w+\(\)", readme))
    assert taught, "the README shows no check call"
    exercises = sorted((ROOT / "exercises").glob("*.ipynb"))
    code = "\n".join(src for path in exercises for src in notebook_code(path))
    text = "\n".join("".join(c["source"]) for path in exercises for c in json.loads(path.read_text())["cells"])
    assert re.search(r"^check\.q1\(\w+\)$", code, re.M), "the exercises call check.q1(fn) in a code cell"
    for call in taught:
        assert call.split("(")[0] + "(" in text, f"the README shows {call}, which no exercise uses"
    assert not re.search(r"q\d+\.check\(", readme), "the README teaches q1.check(), the exercises check.q1(fn)"


WRITERS = {"to_csv", "savefig", "save", "savez", "savez_compressed", "save_model", "write_text", "write_bytes",
           "to_parquet", "mkdir"}


def fixed_paths(sources: list[str]) -> list[str]:
    """Writes in a notebook's code cells whose target is a plain string (or a name bound to one anywhere in it):
    relative to the current folder, which is notebooks/ when a lesson runs. Paths built on `output_dir()` are
    not plain strings."""
    magic = re.compile(r"^(\s*)[%!].*$", re.M)  # IPython magics and shell lines: not Python, not file writes
    trees = [ast.parse(magic.sub(lambda m: m.group(1) + "pass", source)) for source in sources]
    strings = {t.id for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
               for t in node.targets if isinstance(t, ast.Name)}

    def plain(node) -> bool:
        return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or (
            isinstance(node, ast.Name) and node.id in strings)

    found = []
    for node in (node for tree in trees for node in ast.walk(tree)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        targets = [kw.value for kw in node.keywords if kw.arg in ("out_dir", "path", "filepath")]
        if name in WRITERS and node.args:
            targets.append(node.args[-1] if name == "to_csv" and len(node.args) > 1 else node.args[0])
        if name == "open" and len(node.args) > 1 and plain(node.args[1]) and set("wax") & set(str(
                getattr(node.args[1], "value", ""))):
            targets.append(node.args[0])
        found += [ast.unparse(t) for t in targets if plain(t)]
    return found


def test_the_scan_finds_plain_writes_and_accepts_output_dir():
    assert fixed_paths(['SUB = "s.csv"', 'to_csv(preds, SUB)\nfit(m, out_dir="runs/x")\nopen("b.csv", "w")']) == [
        "SUB", "'runs/x'", "'b.csv'"]
    assert fixed_paths(['OUT = output_dir()\nto_csv(preds, OUT / "s.csv")\nopen(OUT / "b.csv", "w")\n',
                        'open("data.txt")\nfit(m, out_dir=OUT / "runs")\nif x:\n    %pip install y']) == []


@pytest.mark.parametrize("lesson", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_no_lesson_writes_into_the_lessons_folder(lesson):
    writes = fixed_paths(notebook_code(ROOT / "notebooks" / lesson))
    assert not writes, f"{lesson} writes to {writes} in notebooks/; build the path on marslab.files.output_dir()"
