# SPDX-License-Identifier: Apache-2.0
"""The two diffusers networks, built and called the way the official code computes (spec 1.4).

* ``CosmosTransformer3DModel`` is built with ``concat_padding_mask=False`` and one extra input
  channel: the padding mask (nearest-resized) is appended by us as the last channel after the
  condition mask. This is the official channel order (latent 16 | condition mask | padding mask)
  and avoids diffusers' torchvision resize (torchvision cannot be installed beside CPU torch).
* q/k RMSNorm eps is set to the official 1e-6 after construction (diffusers default 1e-5).
* Called with ``fps=None`` (no temporal RoPE rescale) and per-frame (B, 1, T, 1, 1) timesteps.
* ``AutoencoderKLWan``: the posterior mode, normalized (mu - mean) / std per channel.
* Cross-attention (``attn2``) runs ``TextKVProcessor``: diffusers' ``CosmosAttnProcessor2_0``
  numerics, but inside ``cached_text_kv`` one decision projects its instruction once instead of
  once per block per forward per sample.
* The blocks' adaLN-LoRA modulation (``norm1/2/3``) is ``FrameAdaLayerNormZero``: inside
  ``per_frame_modulation`` it runs its linears once per latent frame, not once per token as
  diffusers does after expanding the per-frame timestep embedding to every token (the same
  numbers; 8 % of a 2B ALOHA forward's FLOPs, ``core/flops.py``).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan, CosmosTransformer3DModel
from diffusers.models.attention_processor import Attention
from diffusers.models.transformers.transformer_cosmos import CosmosAdaLayerNormZero, CosmosAttnProcessor2_0

from cosmos_policy_ros.core.config import DiTConfig, VAEConfig

MASK_CHANNELS = 2  # condition mask + padding mask, appended after the latent channels


def build_transformer(config: DiTConfig, latent_channels: int) -> CosmosTransformer3DModel:
    """A ``CosmosTransformer3DModel`` with the official numerics (see module docstring)."""
    transformer = CosmosTransformer3DModel(
        in_channels=latent_channels + MASK_CHANNELS,
        out_channels=latent_channels,
        num_attention_heads=config.num_attention_heads,
        attention_head_dim=config.attention_head_dim,
        num_layers=config.num_layers,
        mlp_ratio=config.mlp_ratio,
        text_embed_dim=config.text_embed_dim,
        adaln_lora_dim=config.adaln_lora_dim,
        max_size=tuple(config.max_size),
        patch_size=tuple(config.patch_size),
        rope_scale=tuple(config.rope_scale),
        concat_padding_mask=False,
        extra_pos_embed_type="learnable" if config.absolute_pos_embed else None,
    )
    set_qk_norm_eps(transformer, config.qk_norm_eps)
    for block in transformer.transformer_blocks:
        block.attn2.set_processor(TextKVProcessor())
        for norm in (block.norm1, block.norm2, block.norm3):
            norm.__class__ = FrameAdaLayerNormZero  # same parameters, a forward that can skip repeats
            norm.tokens_per_frame = None
    return transformer


class FrameAdaLayerNormZero(CosmosAdaLayerNormZero):
    """``CosmosAdaLayerNormZero`` that modulates per latent frame when ``tokens_per_frame`` is set.

    Every token of a frame carries the same timestep embedding (diffusers expands it per token), so
    the modulation linears run on the first token of each frame and the result is broadcast.
    ``tokens_per_frame`` None: diffusers' forward.
    """

    tokens_per_frame: int | None

    def forward(self, hidden_states: torch.Tensor, embedded_timestep: torch.Tensor,
                temb: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        per_frame = self.tokens_per_frame
        if per_frame is None or embedded_timestep.ndim != 3:
            return super().forward(hidden_states, embedded_timestep, temb)
        batch, tokens, width = hidden_states.shape
        frames = tokens // per_frame

        def first_of_each_frame(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, frames, per_frame, -1)[:, :, 0]

        modulation = self.linear_2(self.linear_1(self.activation(first_of_each_frame(embedded_timestep))))
        if temb is not None:
            modulation = modulation + first_of_each_frame(temb)
        shift, scale, gate = (x[:, :, None] for x in modulation.chunk(3, dim=-1))  # (B, T, 1, D)
        normed = self.norm(hidden_states).view(batch, frames, per_frame, width) * (1 + scale) + shift
        return normed.view(batch, tokens, width), gate.expand(-1, -1, per_frame, -1).reshape(batch, tokens, width)


@contextmanager
def per_frame_modulation(transformer: CosmosTransformer3DModel, tokens_per_frame: int) -> Iterator[None]:
    """Inside: the blocks' adaLN-LoRA modulation runs once per latent frame of ``tokens_per_frame``."""
    norms = [norm for block in transformer.transformer_blocks for norm in (block.norm1, block.norm2, block.norm3)]
    if not all(isinstance(norm, FrameAdaLayerNormZero) for norm in norms):
        raise TypeError("transformer was not built by build_transformer (no FrameAdaLayerNormZero)")
    for norm in norms:
        norm.tokens_per_frame = tokens_per_frame
    try:
        yield
    finally:
        for norm in norms:
            norm.tokens_per_frame = None


def tokens_per_latent_frame(transformer: CosmosTransformer3DModel, latent_hw: tuple[int, int]) -> int:
    """Patches per latent frame of (h, w) latents."""
    _, patch_h, patch_w = transformer.config.patch_size
    return (latent_hw[0] // patch_h) * (latent_hw[1] // patch_w)


TextKV = list[tuple[torch.Tensor, torch.Tensor] | None]  # per block: key, value (1, heads, L, head_dim)


class TextKVProcessor(CosmosAttnProcessor2_0):
    """Cross-attention that projects the instruction once and reuses its keys/values.

    Inside ``cached_text_kv`` the text is the same for every sample and sampler step of a
    decision: the first forward computes this block's K/V (``to_k``/``to_v`` and the k RMSNorm, as
    ``CosmosAttnProcessor2_0``) for one row and stores them in the shared list, later forwards
    broadcast them. Computed inside the block's own forward, so it also works where the weights
    only exist there (FSDP shards) and under ``torch.compile``. Outside the context: exactly
    diffusers' processor.
    """

    def __init__(self) -> None:
        super().__init__()
        self.store: TextKV | None = None
        self.index = 0

    def __call__(self, attn: Attention, hidden_states: torch.Tensor,
                 encoder_hidden_states: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 image_rotary_emb: torch.Tensor | None = None) -> torch.Tensor:
        if self.store is None or encoder_hidden_states is None or attention_mask is not None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        if self.store[self.index] is None:
            text = encoder_hidden_states[:1]
            key = attn.norm_k(attn.to_k(text).unflatten(2, (attn.heads, -1)).transpose(1, 2))
            self.store[self.index] = (key, attn.to_v(text).unflatten(2, (attn.heads, -1)).transpose(1, 2))
        query = attn.norm_q(attn.to_q(hidden_states).unflatten(2, (attn.heads, -1)).transpose(1, 2))
        key, value = (t.expand(query.shape[0], -1, -1, -1) for t in self.store[self.index])
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def empty_text_kv(transformer: CosmosTransformer3DModel) -> TextKV:
    """A store for one instruction's K/V in every block, filled by the first forward."""
    return [None] * len(transformer.transformer_blocks)


@contextmanager
def cached_text_kv(transformer: CosmosTransformer3DModel, store: TextKV) -> Iterator[None]:
    """Inside: every sample of every forward shares one instruction, whose K/V live in ``store``."""
    processors = [block.attn2.processor for block in transformer.transformer_blocks]
    if not all(isinstance(p, TextKVProcessor) for p in processors):
        raise TypeError("transformer was not built by build_transformer (no TextKVProcessor)")
    for index, processor in enumerate(processors):
        processor.store, processor.index = store, index
    try:
        yield
    finally:
        for processor in processors:
            processor.store = None


def set_qk_norm_eps(transformer: CosmosTransformer3DModel, eps: float) -> None:
    """Set eps of the per-head q/k RMSNorm in self- and cross-attention of every block."""
    for block in transformer.transformer_blocks:
        for attention in (block.attn1, block.attn2):
            attention.norm_q.eps = eps
            attention.norm_k.eps = eps


def qk_norm_eps_values(transformer: CosmosTransformer3DModel) -> set[float]:
    """All q/k-norm eps values in use (a check that ``set_qk_norm_eps`` took effect)."""
    return {norm.eps for block in transformer.transformer_blocks for attention in (block.attn1, block.attn2)
            for norm in (attention.norm_q, attention.norm_k)}


def mask_channels(condition_mask: torch.Tensor, latent_hw: tuple[int, int],
                  padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The two extra input channels.

    Args:
        condition_mask: (B, T) 1 on conditioning frames.
        latent_hw: (h, w) of the latents.
        padding_mask: (1, 1, H, W) pixel padding mask (shared by the batch) or None for zeros
            (Cosmos Policy always passes zeros); resized NEAREST to (h, w) like upstream.
    Returns:
        (B, 2, T, h, w): [condition mask, padding mask].
    """
    batch, frames = condition_mask.shape
    height, width = latent_hw
    cond = condition_mask[:, None, :, None, None].expand(batch, 1, frames, height, width)
    if padding_mask is None:
        pad = torch.zeros_like(cond)
    else:
        resized = F.interpolate(padding_mask[:1].to(cond.dtype), size=(height, width), mode="nearest")
        pad = resized[:, :, None].expand(batch, 1, frames, height, width)
    return torch.cat([cond, pad], dim=1)


def transformer_velocity(transformer: CosmosTransformer3DModel, x_in: torch.Tensor, timesteps: torch.Tensor,
                         condition_mask: torch.Tensor, text_embeddings: torch.Tensor,
                         padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """One network evaluation F (velocity), computed in the transformer's dtype, returned float32.

    Args:
        x_in: (B, C, T, h, w) network input (c_in-scaled, conditioning frames replaced).
        timesteps: (B, T) per-frame c_noise (0 on conditioning frames).
        condition_mask: (B, T).
        text_embeddings: (B, L, D).
        padding_mask: optional (1, 1, H, W) pixel mask (fixture checks only).
    """
    dtype = transformer.dtype
    masks = mask_channels(condition_mask.float(), x_in.shape[-2:], padding_mask)
    out = transformer(
        hidden_states=x_in.to(dtype),
        timestep=timesteps[:, None, :, None, None].to(dtype),
        encoder_hidden_states=text_embeddings.to(dtype),
        fps=None,
        condition_mask=masks.to(dtype),
        padding_mask=None,
        return_dict=False,
    )[0]
    return out.float()


def build_vae(config: VAEConfig) -> AutoencoderKLWan:
    """The Wan2.1 VAE (diffusers ``AutoencoderKLWan``) of the given size."""
    return AutoencoderKLWan(
        base_dim=config.base_dim, z_dim=config.z_dim, dim_mult=list(config.dim_mult),
        num_res_blocks=config.num_res_blocks, attn_scales=[], temperal_downsample=list(config.temperal_downsample),
        dropout=0.0, latents_mean=list(config.latents_mean), latents_std=list(config.latents_std))


def vae_encode(vae: AutoencoderKLWan, pixels: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, 1 + 4k, H, W) in [-1, 1] -> normalized latents float32 (B, z, 1 + k, H/8, W/8).

    Posterior mode (not a sample), then (mu - mean) / std, as the official tokenizer. On CPU the
    pixels go in channels-last: the same numbers, 2-3x faster for batches (the 3D convolutions and
    the RMS norms over channels; ``bench/vae_layout.py``), which is most of a latent cache's fill.
    """
    pixels = pixels.to(vae.dtype)
    if pixels.device.type == "cpu":
        pixels = pixels.contiguous(memory_format=torch.channels_last_3d)
    mu = vae.encode(pixels).latent_dist.mode().float()
    mean = torch.tensor(vae.config.latents_mean, device=mu.device).reshape(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=mu.device).reshape(1, -1, 1, 1, 1)
    return (mu - mean) / std


def vae_decode(vae: AutoencoderKLWan, latents: torch.Tensor) -> torch.Tensor:
    """Normalized latents (B, z, T, h, w) -> pixels float32 (B, 3, 1 + 4 (T - 1), H, W) in [-1, 1]."""
    mean = torch.tensor(vae.config.latents_mean, device=latents.device).reshape(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=latents.device).reshape(1, -1, 1, 1, 1)
    return vae.decode((latents.float() * std + mean).to(vae.dtype), return_dict=False)[0].float()
