"""Helpers for checks of Keras builders: wrap a block in a model, count parameters, probe behaviour."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import ops

from marslab.checks._core import Incorrect, expect


def block_model(fn: Callable, input_shapes: Sequence[tuple[int, ...]], *args, **kwargs):
    """keras.Model(inputs, fn(*inputs, *args, **kwargs)) for inputs of the given shapes (no batch axis).

    Each input reaches `fn` through an Identity layer, so the model can be built even when the answer
    returns an input unchanged or ignores one: Keras before 3.14 refuses to build a model with an input
    that feeds no layer ("inputs not connected to outputs"); the check then finds the mistake by behaviour.
    """
    inputs = [keras.Input(shape) for shape in input_shapes]
    output = fn(*[keras.layers.Identity()(x) for x in inputs], *args, **kwargs)
    expect(output is not None, "the function returned None: did it forget to `return` the output tensor?")
    expect(keras.backend.is_keras_tensor(output), f"expected the output tensor of Keras layers, got a "
                                                  f"{type(output).__name__}")
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, output)


def predict(model, *arrays: np.ndarray) -> np.ndarray:
    """The model's output on float32 inputs, as a NumPy array (inference mode)."""
    out = model([a.astype(np.float32) for a in arrays] if len(arrays) > 1 else arrays[0].astype(np.float32),
                training=False)
    return ops.convert_to_numpy(out)


def scalar(value, what: str) -> float:
    """A loss value as a Python float; Incorrect unless it is a single number."""
    expect(value is not None, f"{what} returned None: did it forget to `return`?")
    array = np.asarray(ops.convert_to_numpy(value))
    if array.ndim:
        raise Incorrect(f"{what} should return one number for the batch (a scalar), got shape {array.shape}: "
                        "take the mean")
    return float(array)
