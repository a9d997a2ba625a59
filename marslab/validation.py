"""The one set of input checks: images, label maps, probabilities, class weights and plain numbers.

Every check returns the value (as a NumPy array where that applies) or raises one line in one style,

    <name> must <rule>, found <what was found>

naming the argument, what was expected and what was there. Wrong shapes and values raise ValueError;
a wrong type raises TypeError, and a wrong dtype `DTypeError`, which is both (callers that catch
ValueError for "bad input" catch it too). Shapes are written with N for the number of samples, H and W
for free image sizes and C for channels or classes.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES


class DTypeError(TypeError, ValueError):
    """An array of the right shape but the wrong dtype (e.g. float probabilities where labels belong)."""


def invalid(name: str, rule: str, found: object, error: type[Exception] = ValueError) -> Exception:
    """The exception `error("<name> must <rule>, found <found>")`, for `raise invalid(...)`."""
    return error(f"{name} must {rule}, found {found}")


def shape_text(shape: Sequence[int | None]) -> str:
    """(None, 64, 128) -> "(N, 64, 128)"; (None, None, None) -> "(N, H, W)"; free sizes after N are H, W, C."""
    letters = iter("HWC" if len(shape) <= 4 else "ABCDEFGH")
    parts = ["N" if i == 0 and s is None else next(letters) if s is None else str(s) for i, s in enumerate(shape)]
    return "(" + ", ".join(parts) + (",)" if len(parts) == 1 else ")")


def check_array(array, name: str, shape: Sequence[int | None], dtype: str | None = None,
                num_classes: int | None = None, allow_empty: bool = False, strict: bool = False) -> np.ndarray:
    """`array` as a NumPy array after checking it against `shape` (None: any size), `dtype` ("uint8",
    "integer" or "float"), at least one sample unless `allow_empty`, and labels 0..num_classes-1 when
    `num_classes` is given. strict: only a NumPy array is accepted (no lists). Float arrays must be finite.
    """
    if strict and not isinstance(array, np.ndarray):
        raise invalid(name, f"be a NumPy array of shape {shape_text(shape)}", type(array).__name__, TypeError)
    array = np.asarray(array)
    check_shape(array.shape, name, shape, allow_empty, num_classes)
    check_dtype(array.dtype, name, dtype, num_classes, array.shape)
    if num_classes is not None and array.size:
        check_label_values(array, name, num_classes)
    if array.dtype.kind == "f" and array.size and not np.isfinite(array).all():
        raise invalid(name, "hold finite numbers", f"{np.count_nonzero(~np.isfinite(array))} NaN or infinite values")
    return array


def check_shape(actual: tuple[int, ...], name: str, shape: Sequence[int | None], allow_empty: bool = False,
                num_classes: int | None = None) -> None:
    """Raise unless the shape `actual` fits `shape` (None: any size) and, unless `allow_empty`, N >= 1."""
    if len(actual) != len(shape) or any(s is not None and s != a for s, a in zip(shape, actual)):
        probs = num_classes and len(actual) == len(shape) + 1 and actual[-1] == num_classes
        hint = " (argmax the probabilities first)" if probs else ""
        raise invalid(name, f"have shape {shape_text(shape)}", f"{tuple(actual)}{hint}")
    if not allow_empty and actual and actual[0] == 0:
        raise invalid(name, "hold at least one sample", f"shape {tuple(actual)}: an empty array (need N >= 1)")


def check_dtype(dtype: np.dtype, name: str, want: str | None, num_classes: int | None = None,
                shape: tuple[int, ...] = ()) -> None:
    """Raise DTypeError unless `dtype` is `want`: "uint8", "integer", "float", "str" (None: any)."""
    if want == "uint8" and dtype != np.uint8:
        raise invalid(name, "be uint8", f"dtype {dtype}", DTypeError)
    if want == "integer" and not np.issubdtype(dtype, np.integer):
        what = f"integer labels 0..{num_classes - 1}" if num_classes else "integers"
        hint = " (argmax the probabilities first)" if dtype.kind == "f" else ""
        raise invalid(name, f"hold {what}{hint}", f"dtype {dtype} with shape {tuple(shape)}", DTypeError)
    if want == "float" and dtype.kind != "f":
        raise invalid(name, "hold floats", f"dtype {dtype}", DTypeError)
    if want == "str" and dtype.kind != "U":
        raise invalid(name, "hold a string", f"dtype {dtype}", DTypeError)


def check_label_values(labels: np.ndarray, name: str, num_classes: int = NUM_CLASSES) -> None:
    """Raise unless every entry of the integer array `labels` is a class id 0..num_classes-1."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = np.unique(labels[(labels < 0) | (labels >= num_classes)])[:5].tolist()
        raise invalid(name, f"hold labels 0..{num_classes - 1}", f"values {bad}")


def check_images(images, name: str = "images", image_shape: tuple[int, int] | None = IMAGE_SHAPE,
                 count: int | None = None) -> np.ndarray:
    """A NumPy uint8 array (N, 64, 128) with N >= 1 (`image_shape=None`: any (N, H, W)); `count`: N itself."""
    images = check_array(images, name, (None, *(image_shape or (None, None))), "uint8", strict=True)
    _check_count(images, name, count, "image")
    return images


def check_labels(labels, name: str = "masks", image_shape: tuple[int, int] | None = IMAGE_SHAPE,
                 count: int | None = None, num_classes: int = NUM_CLASSES, allow_empty: bool = False,
                 any_shape: bool = False) -> np.ndarray:
    """Integer label maps (N, 64, 128) of class ids 0..num_classes-1 (`image_shape=None`: any (N, H, W);
    `any_shape`: any shape at all); `count`: N must equal it (one mask per image)."""
    labels = np.asarray(labels)
    shape = (None,) * labels.ndim if any_shape else (None, *(image_shape or (None, None)))
    labels = check_array(labels, name, shape, "integer", num_classes, allow_empty=allow_empty or any_shape)
    _check_count(labels, name, count, "mask per image")
    return labels


def check_probs(probs, name: str = "probs", count: int | None = None, num_classes: int | None = None,
                image_shape: tuple[int, int] | None = IMAGE_SHAPE) -> np.ndarray:
    """Float probabilities (N, 64, 128, C), finite; `count`: N must equal it; `num_classes`: C must."""
    probs = check_array(probs, name, (None, *(image_shape or (None, None)), num_classes), "float")
    _check_count(probs, name, count, "probability map per image")
    return probs


def _check_count(array: np.ndarray, name: str, count: int | None, item: str) -> None:
    if count is not None and len(array) != count:
        raise invalid(name, f"hold one {item} (the same N, {count})", len(array))


def check_class_weights(weights, num_classes: int = NUM_CLASSES, name: str = "class_weights") -> np.ndarray:
    """`num_classes` finite, non-negative weights, not all zero, as a float64 array (C,)."""
    try:
        values = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(name, f"be {num_classes} numbers", repr(weights)[:60], TypeError) from None
    rule = f"be {num_classes} finite, non-negative class weights, not all zero"
    if values.shape != (num_classes,) or not np.isfinite(values).all() or values.min() < 0 or values.max() == 0:
        raise invalid(name, rule, np.round(values, 4).tolist() if values.size <= 10 else f"shape {values.shape}")
    return values


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int after checking it is an integer (not a bool) in [minimum, maximum]."""
    bounds = " and ".join(b for b in (minimum is not None and f">= {minimum}", maximum is not None
                                      and f"<= {maximum}") if b)
    rule = "be an int" + (f" {bounds}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, rule, repr(value), TypeError if not isinstance(value, numbers.Real) else ValueError)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid(name, rule, repr(value))
    return int(value)


def check_number(value, name: str, low: float | None = None, high: float | None = None,
                 open_low: bool = False, open_high: bool = False) -> float:
    """`value` as a finite float in the interval given by low/high (open ends excluded)."""
    parts = [f"{'>' if open_low else '>='} {low}" if low is not None else "",
             f"{'<' if open_high else '<='} {high}" if high is not None else ""]
    rule = "be a finite number" + (" " + " and ".join(p for p in parts if p) if any(parts) else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise invalid(name, rule, repr(value), TypeError if not isinstance(value, numbers.Real) else ValueError)
    if (low is not None and (value <= low if open_low else value < low)) or \
            (high is not None and (value >= high if open_high else value > high)):
        raise invalid(name, rule, repr(value))
    return float(value)
