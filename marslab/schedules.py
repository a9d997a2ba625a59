"""Learning-rate schedules beside warmup + cosine annealing: reduce-on-plateau (report 002, §4).

Cosine annealing fixes the whole curve before training starts (`training.cosine_schedule`, report 000
§4.5). Reduce-on-plateau reacts to the run instead: it keeps the rate until the monitored validation
score has not improved for `patience` epochs, then multiplies it by `factor`. It is Keras' own
`ReduceLROnPlateau` callback, which needs a plain number as the optimizer's learning rate, not a schedule.
"""
from __future__ import annotations

import keras

SCHEDULES: tuple[str, ...] = ("cosine", "plateau")
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 3
MIN_LEARNING_RATE = 1e-6


def plateau_callback(monitor: str = "val_mean_iou", mode: str = "max", factor: float = PLATEAU_FACTOR,
                     patience: int = PLATEAU_PATIENCE,
                     min_learning_rate: float = MIN_LEARNING_RATE) -> keras.callbacks.ReduceLROnPlateau:
    """Multiply the learning rate by `factor` once `monitor` has not improved for `patience` epochs, down
    to `min_learning_rate`. mode "max" for a score such as validation mean IoU, "min" for a loss."""
    if not 0 < factor < 1:
        raise ValueError(f"factor must lie in (0, 1), got {factor}")
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    return keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=factor, patience=patience,
                                             min_lr=min_learning_rate, verbose=1)


def plateau_optimizer(learning_rate: float = 1e-3, weight_decay: float = 1e-4) -> keras.optimizers.AdamW:
    """AdamW with a constant starting rate, for `plateau_callback` to lower (no warmup, no cosine)."""
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
