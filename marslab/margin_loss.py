"""Report 003's margin loss (§3.3) and its full combination: weighted Dice + focal + IoU + margin.

Per pixel i with true class c_i, probabilities p (softmax over C classes) and class weights w:
    f_n(i) = w_{c_i} * ( ||p_{c != c_i}||_5 - p_{c_i} )          false negatives: the best wrong class
                                                                  (a 5-norm, a smooth max) must fall below
                                                                  the true one; in [-1, 1] times the weight
    f_p(i) = sum_{c != c_i} w_c * q_c,  q = p^5 / ||p^5||_1      false positives: the 5th power sharpens p
                                                                  towards its largest entry, so a confident
                                                                  wrong class costs most; in [0, max w]
    margin(i) = 0.99 f_n(i) + 0.01 f_p(i)                         (report 003's weights)
and the loss is the mean over pixels. At a perfect prediction it is -0.99 w_{c_i}, its minimum; Keras
minimises it like any other loss. The 5-norm is computed as m * ||p / m||_5 with m the largest entry,
which is the same number but keeps the gradient finite where the other probabilities underflow to 0.

Importing `marslab.losses` registers the name "margin" for `get_loss`, so {"focal": 1, "margin": 1}
works like the other sums.
"""
from __future__ import annotations

from collections.abc import Sequence

from keras import ops

from marslab.losses import LOSSES, Combined, SegmentationLoss, get_loss, register

NORM_POWER = 5.0          # report 003: the 5-norm as a smooth max, the 5th power for false positives
FALSE_NEGATIVE_WEIGHT = 0.99
FALSE_POSITIVE_WEIGHT = 0.01
TINY = 1e-30


def smooth_max(values, power: float = NORM_POWER, axis: int = -1):
    """||values||_power along `axis` (values >= 0), computed as m * ||values / m||_power with m = max.

    The sum of (values / m)^power is at least 1 (the largest entry gives 1) unless every value is 0; it is
    floored at 1, so the gradient stays finite there too.
    """
    m = ops.maximum(ops.max(values, axis=axis, keepdims=True), TINY)
    total = ops.maximum(ops.sum((values / m) ** power, axis=axis), 1.0)
    return ops.squeeze(m, axis) * total ** (1.0 / power)


@register
class Margin(SegmentationLoss):
    """Report 003's margin loss (per pixel): fn_weight * f_n + fp_weight * f_p (module docstring).

    class_weights: w, one per class (default all 1). power: the norm and the sharpening power (5).
    """

    def __init__(self, power: float = NORM_POWER, fn_weight: float = FALSE_NEGATIVE_WEIGHT,
                 fp_weight: float = FALSE_POSITIVE_WEIGHT, **kwargs):
        super().__init__(**kwargs)
        if power < 1:
            raise ValueError(f"power must be >= 1 (a norm), got {power}")
        self.power, self.fn_weight, self.fp_weight = float(power), float(fn_weight), float(fp_weight)

    def compute(self, onehot, probs, maps):
        w = self.class_weight_vector
        true_prob = ops.sum(onehot * probs, axis=-1)
        wrong = probs * (1.0 - onehot)                                  # the true class's entry set to 0
        f_n = ops.sum(onehot * w, axis=-1) * (smooth_max(wrong, self.power) - true_prob)
        m = ops.max(probs, axis=-1, keepdims=True)                     # p^5 / ||p^5||_1 without underflow
        sharp = (probs / ops.maximum(m, TINY)) ** self.power
        sharp = sharp / ops.sum(sharp, axis=-1, keepdims=True)
        f_p = ops.sum((1.0 - onehot) * w * sharp, axis=-1)
        return self.fn_weight * f_n + self.fp_weight * f_p

    def get_config(self) -> dict:
        return {**super().get_config(), "power": self.power, "fn_weight": self.fn_weight,
                "fp_weight": self.fp_weight}


LOSSES["margin"] = Margin

REPORT_003_PARTS: tuple[str, ...] = ("dice", "focal", "jaccard", "margin")
MARGIN_EMPHASIS = 3.0  # our choice: report 003 "emphasizes" the margin term but gives no number (§3.3)


def report_003_loss(class_weights: Sequence[float] | None = None, margin_weight: float = MARGIN_EMPHASIS,
                    gamma: float = 2.0, name: str = "report_003") -> Combined:
    """Report 003's loss (§3.3, Table 1 "Total Combined"): weighted Dice + focal + IoU (soft Jaccard),
    each with weight 1, + `margin_weight` x margin loss, all with `class_weights`.

    The report calls its focal term "improved" without defining it; this is the class-weighted focal loss
    of Lin et al. (`losses.Focal`, gamma 2), whose (1 - p)^gamma factor is the "adjusting for prediction
    confidence" it describes. The report says the margin term is emphasised, not by how much:
    MARGIN_EMPHASIS = 3 (as much as the three others together) is ours.
    """
    if margin_weight < 0:
        raise ValueError(f"margin_weight must be >= 0, got {margin_weight}")
    parts = [get_loss("dice", class_weights=class_weights), get_loss("focal", class_weights=class_weights, gamma=gamma),
             get_loss("jaccard", class_weights=class_weights), get_loss("margin", class_weights=class_weights)]
    return Combined(parts, [1.0, 1.0, 1.0, float(margin_weight)], class_weights=class_weights, name=name)
