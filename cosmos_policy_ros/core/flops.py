# SPDX-License-Identifier: Apache-2.0
"""FLOPs of one DiT forward from the model config (what MFU is measured against).

Counted as 2 x multiply-accumulates of every matrix product (``torch.utils.flop_counter``'s
convention, which ``test_flops`` checks this against), per sample, N video tokens, T latent frames,
d model width, L text tokens of width C, r the adaLN-LoRA rank, F the MLP width:

* patch embedding N*72*d, timestep MLP T*4d^2, output head T*3dr + N*d*64;
* per block: adaLN-LoRA modulation 3 * T*4dr; self-attention projections 4Nd^2 and scores/values
  2N^2 d; cross-attention q/out 2Nd^2, text keys/values 2LCd, scores/values 2NLd; MLP 2NdF.

Elementwise work (norms, RoPE, GELU, softmax) is left out: well under 1 % at the 2B sizes.
At the ALOHA layout (2156 tokens, 28 blocks of 2048, 512 text tokens) this is 8.53 TFLOP per sample,
the model's work (MFU counts this). diffusers' ``CosmosTransformer3DModel`` does 9.30: it expands
the per-frame timestep embedding to every token before the blocks' adaLN-LoRA linears
(``adaln_per_token=True`` counts that, 196x the modulation work). Issue 22's "about 9.7" counts the
attention scores and values twice (4 N^2 d multiply-accumulates per block gives 9.60).
"""
from __future__ import annotations

import math

from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.layout import LatentLayout
from cosmos_policy_ros.core.networks import MASK_CHANNELS

TRAINING_FLOPS_PER_FORWARD = 3  # forward + backward (weights and activations): the MFU convention


def forward_tokens(config: CosmosPolicyConfig) -> int:
    """Video tokens N of one sample: latent frames x patches per frame."""
    patch_t, patch_h, patch_w = config.dit.patch_size
    frames = LatentLayout(config.layout).num_frames
    return (frames // patch_t) * (config.latent_height // patch_h) * (config.latent_width // patch_w)


def forward_flops(config: CosmosPolicyConfig, text_kv_cached: bool = False, adaln_per_token: bool = False) -> int:
    """FLOPs of one sample's DiT forward.

    Args:
        text_kv_cached: the text K/V were computed before (``networks.cached_text_kv``).
        adaln_per_token: count the adaLN-LoRA modulation per token, as diffusers computes it.
    """
    dit = config.dit
    d = dit.num_attention_heads * dit.attention_head_dim
    mlp = int(d * dit.mlp_ratio)
    r = dit.adaln_lora_dim
    frames = LatentLayout(config.layout).num_frames
    tokens = forward_tokens(config)
    text, text_dim = dit.text_max_tokens, dit.text_embed_dim
    patch = math.prod(dit.patch_size)
    channels = config.vae.z_dim
    embed = tokens * patch * (channels + MASK_CHANNELS) * d + frames * 4 * d * d
    head = frames * 3 * d * r + tokens * d * patch * channels
    modulated = tokens if adaln_per_token else frames
    block = (3 * modulated * 4 * d * r
             + 4 * tokens * d * d + 2 * tokens * tokens * d
             + 2 * tokens * d * d + (0 if text_kv_cached else 2 * text * text_dim * d) + 2 * tokens * text * d
             + 2 * tokens * d * mlp)
    return 2 * (embed + dit.num_layers * block + head)
