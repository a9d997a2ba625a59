"""Segmentation models built from small blocks: U-Net and its variants, UNet++, UNet3+, DeepLabV3+.

Every builder returns an uncompiled Keras model: images (B,64,128,1) floats in [0,1] -> probs
(B,64,128,5), a softmax over the classes; every argument has a default that builds quickly.
"""
from marslab.models.blocks import (WeightedAdd, aspp, attention_gate, classifier_head, conv_block,
                                   conv_bn_relu, gated_skip, inception_block, residual_block, squeeze_excite,
                                   standardize, upsample, weighted_add)
from marslab.models.context import PolarizedSelfAttention, bottleneck, polarized_self_attention, strip_pooling
from marslab.models.deeplab import deeplab_v3_plus
from marslab.models.supervision import losses_for, targets_for
from marslab.models.unet import encoder, level_widths, unet
from marslab.models.unet3plus import ClassGate, decoder_stage, skip_table, unet3plus
from marslab.models.unet_plus_plus import unet_plus_plus

__all__ = [
    "unet", "unet_plus_plus", "unet3plus", "deeplab_v3_plus",
    "conv_bn_relu", "conv_block", "residual_block", "squeeze_excite", "attention_gate", "aspp",
    "inception_block", "gated_skip", "PolarizedSelfAttention", "polarized_self_attention", "strip_pooling",
    "bottleneck",
    "weighted_add", "WeightedAdd", "upsample", "standardize", "classifier_head", "encoder", "level_widths",
    "decoder_stage", "skip_table", "ClassGate", "targets_for", "losses_for",
]
