# SPDX-License-Identifier: Apache-2.0
"""``CosmosPolicy``: DiT + Wan VAE + codec + sampler + text cache, one roles-aware model.

Shapes: B batch, C latent channels (16), T latent frames (layout), h = H/8, w = W/8,
K chunk length, D action dim, P proprio dim.

Inference, direct policy::

    encoded = model.encode_observation(images, proprio, instruction)   # VAE once
    latents = model.generate(encoded, Role.POLICY, num_steps=5, seeds=[0, 1, 2])
    actions = model.read_actions(latents)                              # (3, K, D) raw units

World model / value: condition on an earlier generation with ``condition_from_generated``.
Pictures of the predicted future (any role's latents; encode with ``keep_placeholders=True``):
``model.decode_future_images(encoded, latents)`` -> camera name -> uint8 (B, H, W, 3).
"""
from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from cosmos_policy_ros.core import acceleration, codec, diffusion, features, imagination, networks, sampler
from cosmos_policy_ros.core.acceleration import InferenceOptions
from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.imagination import DecodedImages
from cosmos_policy_ros.core.layout import LatentLayout, Role
from cosmos_policy_ros.core.pretrained import load_folder, save_folder
from cosmos_policy_ros.core.text_cache import TextEmbeddingCache
from cosmos_policy_ros.core.transforms import build_pixel_sequence, preprocess_image


@dataclass
class EncodedObservation:
    """A VAE-encoded observation, reusable for any number of generations.

    latents: (1, C, T, h, w) clean latents; observation frames encoded, current proprio injected,
        later frames zero (they are generated). text_embedding: (1, L, D).
    proprio_normalized: (P,) in [-1, 1].
    placeholder_latents: (1, C, S, h, w) VAE latents of the pixel sequence's first S slots (through
        future proprio), nothing injected: what ``decode_images`` restores before decoding. None
        unless ``encode_observation(..., keep_placeholders=True)`` (then nothing can be decoded).
    text_kv: per transformer (``id``), the instruction's cross-attention K/V, filled by the first
        ``generate`` that uses it, so a decision projects its text once per model.
    """

    latents: torch.Tensor
    text_embedding: torch.Tensor
    proprio_normalized: np.ndarray
    placeholder_latents: torch.Tensor | None = None
    text_kv: dict[int, networks.TextKV] = field(default_factory=dict, repr=False)


@dataclass
class ChunkResult:
    """One direct-policy query: actions (K, D) raw, value in [0, 1], timings, latents (1, C, T, h, w)."""

    actions: np.ndarray
    value: float
    timing_ms: dict[str, float] = field(default_factory=dict)
    latents: torch.Tensor | None = None


class CosmosPolicy(nn.Module):
    """Cosmos Policy on diffusers networks.

    Args:
        config: the model configuration.
        statistics: action/proprio normalization statistics (identity if None).
        text_cache: instruction embeddings (empty cache of the config's encoder if None).
    """

    def __init__(self, config: CosmosPolicyConfig, statistics: DatasetStatistics | None = None,
                 text_cache: TextEmbeddingCache | None = None) -> None:
        super().__init__()
        self.config = config
        self.layout = LatentLayout(config.layout)
        self.statistics = statistics or DatasetStatistics.identity(config.layout.action_dim,
                                                                  config.layout.proprio_dim)
        self._check_statistics()
        self.text_cache = text_cache or TextEmbeddingCache(config.dit.text_max_tokens, config.dit.text_embed_dim,
                                                           config.text_encoder)
        self.transformer = networks.build_transformer(config.dit, config.vae.z_dim)
        self.vae = networks.build_vae(config.vae)
        self.vae.requires_grad_(False)  # frozen, as upstream
        self.inference = InferenceOptions()

    def accelerate(self, options: InferenceOptions) -> "CosmosPolicy":
        """Use ``options``' inference levers (casts / compiles the transformer in place); returns self."""
        acceleration.apply(self.transformer, options)
        self.inference = options
        return self

    def _check_statistics(self) -> None:
        dims = (self.statistics.actions.dim, self.statistics.proprio.dim)
        expected = (self.config.layout.action_dim, self.config.layout.proprio_dim)
        if dims != expected:
            raise ValueError(f"statistics (action, proprio) dims {dims} do not match the layout {expected}")

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(C, h, w) of one latent frame."""
        return (self.config.vae.z_dim, self.config.latent_height, self.config.latent_width)

    # ------------------------------------------------------------------ encoding
    def embed_instructions(self, instructions: Sequence[str]) -> torch.Tensor:
        """(B, L, D) text embeddings from the cache, on the model's device."""
        return self.text_cache.batch(list(instructions)).to(self.device)

    @torch.no_grad()
    def encode_pixels(self, images: torch.Tensor, future_images: torch.Tensor | None = None,
                      num_slots: int | None = None) -> torch.Tensor:
        """uint8 (B, n_cams, H, W, 3) -> VAE latents (B, C, num_slots, h, w), nothing injected."""
        pixels = build_pixel_sequence(self.layout, images, future_images, num_slots).to(self.device)
        return networks.vae_encode(self.vae, pixels)

    def inject(self, latents: torch.Tensor, *, proprio: torch.Tensor | None = None,
               actions: torch.Tensor | None = None, future_proprio: torch.Tensor | None = None,
               value: torch.Tensor | None = None) -> torch.Tensor:
        """Copy of (B, C, T, h, w) latents with normalized quantities written into their frames.

        Args: proprio / future_proprio (B, P), actions (B, K, D), value (B,) in [-1, 1].
        """
        out = latents.clone()
        writes = ((proprio, self.layout.proprio_index), (future_proprio, self.layout.future_proprio_index),
                  (actions, self.layout.action_index))
        for values, index in writes:
            if values is not None:
                flat = values.reshape(values.shape[0], -1).to(out)
                out[:, :, index] = codec.tile_into_frame(flat, self.frame_shape)
        if value is not None:
            out[:, :, self.layout.value_index] = codec.value_frame(value.to(out), self.frame_shape)
        return out

    def encode_observation(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str,
                           center_crop: bool | None = None, keep_placeholders: bool = False) -> EncodedObservation:
        """Encode one observation's conditioning frames (the only frames inference VAE-encodes).

        Args:
            images: camera name -> uint8 (H, W, 3); resized to the model size here.
            proprio: (P,) raw proprio.
            instruction: task text (must be in the cache for the T5 encoder).
            center_crop: apply upstream's test-time centre crop (spec 5.1); None = when the
                weights were trained with the random crop (``config.trained_with_image_aug``).
            keep_placeholders: extend the same VAE pass through the action and future-proprio
                placeholder slots and keep them, so ``decode_images`` can read pictures later. Off
                by default: two more slots of VAE encoding that the action chunk does not need.
        """
        cfg = self.config.layout
        missing = [c for c in cfg.camera_names if c not in images]
        if missing:
            raise ValueError(f"missing camera images {missing}; expected {list(cfg.camera_names)}")
        center_crop = self.config.trained_with_image_aug if center_crop is None else center_crop
        stacked = np.stack([preprocess_image(images[c], cfg.image_height, cfg.image_width, center_crop)
                            for c in cfg.camera_names])
        proprio_norm = self.statistics.proprio.normalize(np.asarray(proprio).reshape(cfg.proprio_dim))
        # One causal pass: the observation prefix is bit-identical with or without the placeholders.
        num_observed = self.layout.num_observation_frames
        num_slots = imagination.num_placeholder_slots(self.layout) if keep_placeholders else num_observed
        encoded = self.encode_pixels(torch.from_numpy(stacked)[None], num_slots=num_slots)
        latents = torch.zeros(1, *self.frame_shape[:1], self.layout.num_frames, *self.frame_shape[1:],
                              device=self.device)
        latents[:, :, :num_observed] = encoded[:, :, :num_observed]
        latents = self.inject(latents, proprio=torch.from_numpy(proprio_norm)[None].float())
        return EncodedObservation(latents=latents, text_embedding=self.embed_instructions([instruction]),
                                  proprio_normalized=proprio_norm,
                                  placeholder_latents=encoded if keep_placeholders else None)

    # ------------------------------------------------------------------ denoising
    def denoise(self, x_sigma: torch.Tensor, sigma: torch.Tensor, condition_latents: torch.Tensor,
                condition_mask: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
        """x0 estimate (B, C, T, h, w) float32 from the noisy state at per-sample sigma (B,)."""
        x_in, timesteps = diffusion.network_input(x_sigma, sigma, condition_latents, condition_mask)
        velocity = self._velocity(x_in, timesteps, condition_mask, text_embeddings)
        return diffusion.x0_from_velocity(x_sigma, velocity, sigma, condition_latents, condition_mask)

    def _velocity(self, x_in: torch.Tensor, timesteps: torch.Tensor, condition_mask: torch.Tensor,
                  text_embeddings: torch.Tensor) -> torch.Tensor:
        """``networks.transformer_velocity`` at the batch bucket's size (padding rows dropped)."""
        batch = x_in.shape[0]
        size = acceleration.bucket_size(batch, self.inference)
        inputs = [acceleration.pad_batch(t, size) for t in (x_in, timesteps, condition_mask, text_embeddings)]
        if acceleration.compile_mode(self.inference, self.device) == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # the previous forward's graph outputs are consumed
        return networks.transformer_velocity(self.transformer, *inputs)[:batch]

    @contextmanager
    def decision_context(self, encoded: EncodedObservation) -> Iterator[None]:
        """Inside: the chosen SDPA kernels, ``encoded``'s instruction K/V (computed by the first forward)
        and per-frame modulation, as ``self.inference`` says."""
        with ExitStack() as stack:
            stack.enter_context(acceleration.attention_kernels(self.inference))
            if self.inference.frame_modulation:
                per_frame = networks.tokens_per_latent_frame(self.transformer, self.frame_shape[1:])
                stack.enter_context(networks.per_frame_modulation(self.transformer, per_frame))
            if self.inference.text_kv_cache:
                store = encoded.text_kv.setdefault(id(self.transformer), networks.empty_text_kv(self.transformer))
                stack.enter_context(networks.cached_text_kv(self.transformer, store))
            yield

    def num_steps_for(self, role: Role) -> int:
        """The config's default number of denoiser evaluations for ``role``."""
        cfg = self.config.sampler
        return {Role.POLICY: cfg.policy_num_steps, Role.WORLD_MODEL: cfg.world_model_num_steps}.get(
            Role(role), cfg.value_num_steps)

    @torch.no_grad()
    def generate(self, encoded: EncodedObservation, role: Role, num_steps: int | None, seeds: Sequence[int],
                 condition_latents: torch.Tensor | None = None) -> torch.Tensor:
        """Sample the non-conditioning frames of ``role``, one sample per seed.

        Args:
            encoded: the observation (text; its latents condition unless ``condition_latents``).
            role: which frames condition (``LatentLayout.condition_mask``).
            num_steps: denoiser evaluations (None: the config's default for the role).
            seeds: one seed per sample; sample i depends only on seeds[i].
            condition_latents: (1 or B, C, T, h, w) clean latents for roles that condition on
                action / future frames (see ``condition_from_generated``).
        Returns:
            float32 (B, C, T, h, w) x0 sample, conditioning frames equal to the clean latents.
        """
        role = Role(role)
        cond_mask_np = self.layout.condition_mask(role)
        if condition_latents is None:
            unknown = np.flatnonzero(cond_mask_np[self.layout.num_observation_frames:])
            if unknown.size:
                raise ValueError(f"role {role.name} conditions on frames beyond the observation; "
                                 "pass condition_latents (see condition_from_generated)")
            condition_latents = encoded.latents
        batch = len(seeds)
        cond = condition_latents.to(self.device).float().expand(batch, -1, -1, -1, -1)
        cond_mask = torch.from_numpy(cond_mask_np).float().to(self.device).expand(batch, -1)
        text = encoded.text_embedding.expand(batch, -1, -1)
        cfg = self.config.sampler
        num_steps = self.num_steps_for(role) if num_steps is None else num_steps
        sigmas = sampler.karras_sigmas(num_steps, cfg.sigma_min, cfg.sigma_max, cfg.rho)
        noise = sampler.initial_noise(seeds, cond.shape[1:]).to(self.device) * cfg.sigma_max

        def x0_fn(x: torch.Tensor, sigma: float) -> torch.Tensor:
            sigma_b = torch.full((batch,), sigma, dtype=torch.float32, device=self.device)
            return self.denoise(x, sigma_b, cond, cond_mask, text)

        with self.decision_context(encoded):
            return sampler.sample(x0_fn, noise, sigmas)

    def condition_from_generated(self, encoded: EncodedObservation, generated: torch.Tensor) -> torch.Tensor:
        """Conditioning latents for world-model / value roles from an earlier generation.

        Upstream takes the action (and future) frames from the generated latent without re-encoding
        and re-injects the current proprio. Returns (B, C, T, h, w).
        """
        proprio = torch.from_numpy(encoded.proprio_normalized).float()[None].expand(generated.shape[0], -1)
        return self.inject(generated, proprio=proprio)

    # ------------------------------------------------------------------ reading
    def read_actions(self, latents: torch.Tensor) -> np.ndarray:
        """(B, C, T, h, w) -> (B, K, D) actions in raw units (mean over the full tiled copies)."""
        cfg = self.config.layout
        flat = codec.read_tiled(latents[:, :, self.layout.action_index].float().cpu(),
                                cfg.chunk_length * cfg.action_dim)
        normalized = flat.reshape(-1, cfg.chunk_length, cfg.action_dim).numpy()
        return self.statistics.actions.unnormalize(normalized)

    def read_value(self, latents: torch.Tensor) -> np.ndarray:
        """(B, C, T, h, w) -> (B,) value in [0, 1]."""
        raw = codec.read_value_raw(latents[:, :, self.layout.value_index].float().cpu())
        return codec.value_to_unit_interval(raw).numpy().astype(np.float64)

    @torch.no_grad()
    def decode_images(self, encoded: EncodedObservation, latents: torch.Tensor) -> DecodedImages:
        """Predicted future images and current-image reconstructions of generated latents (spec 2.4).

        Args:
            encoded: the observation the latents were generated from (its placeholder latents).
            latents: (B, C, T, h, w) generated latents of any role (policy, world model, ...).
        Returns:
            ``DecodedImages``: camera name -> uint8 (B, H, W, 3) for future and current images.
        """
        if encoded.placeholder_latents is None:
            raise ValueError("encoded has no placeholder_latents; encode the observation with "
                             "encode_observation(..., keep_placeholders=True) to decode images")
        restored = imagination.restore_placeholders(latents.to(self.device), encoded.placeholder_latents,
                                                    self.layout)
        frames = imagination.pixels_to_images(networks.vae_decode(self.vae, restored))
        return imagination.read_images(self.layout, frames)

    def decode_future_images(self, encoded: EncodedObservation,
                             latents: torch.Tensor) -> dict[str, np.ndarray]:
        """Camera name -> uint8 (B, H, W, 3) predicted future image, cameras in layout order."""
        return self.decode_images(encoded, latents).future

    def act(self, images: Mapping[str, np.ndarray], proprio: np.ndarray, instruction: str, seed: int = 0,
            num_steps: int | None = None) -> ChunkResult:
        """Direct policy: one observation -> one action chunk (K, D) raw, with its predicted value."""
        start = time.perf_counter()
        encoded = self.encode_observation(images, proprio, instruction)
        encoded_at = time.perf_counter()
        latents = self.generate(encoded, Role.POLICY, num_steps, [seed])
        done = time.perf_counter()
        return ChunkResult(actions=self.read_actions(latents)[0], value=float(self.read_value(latents)[0]),
                           timing_ms={"encode": 1e3 * (encoded_at - start), "generate": 1e3 * (done - encoded_at),
                                      "total": 1e3 * (done - start)},
                           latents=latents)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def encode_videos(self, batch: Mapping[str, object]) -> torch.Tensor:
        """VAE latents (B, C, T, h, w) of a training batch's full pixel sequence (cacheable: the VAE
        is frozen). ``batch[features.OBS_IMAGES]`` / ``FUTURE_IMAGES``: uint8 (B, n_cams, H, W, 3)."""
        return self.encode_pixels(torch.as_tensor(batch[features.OBS_IMAGES]),
                                  torch.as_tensor(batch[features.FUTURE_IMAGES]))

    def encode_batch(self, batch: Mapping[str, object],
                     vae_latents: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean target x0 and conditioning latents (B, C, T, h, w) of a training batch.

        x0 = VAE latents with current proprio, actions, future proprio and value injected. Every
        role's conditioning frames are a subset of x0's frames, so the conditioning latents equal
        x0 (returned separately so callers can substitute frames). Raw quantities are normalized
        here with the model's statistics.
        """
        latents = self.encode_videos(batch) if vae_latents is None else vae_latents.to(self.device)
        stats = self.statistics

        def normalized(key: str, norm: codec.NormalizationStats) -> torch.Tensor:
            return torch.from_numpy(norm.normalize(np.asarray(batch[key], dtype=np.float64))).float()

        x0 = self.inject(latents.float(), proprio=normalized(features.OBS_PROPRIO, stats.proprio),
                         actions=normalized(features.ACTIONS, stats.actions),
                         future_proprio=normalized(features.FUTURE_PROPRIO, stats.proprio),
                         value=torch.as_tensor(batch[features.VALUE_TARGET]).float())
        return x0, x0.clone()

    def training_loss(self, x0: torch.Tensor, condition_latents: torch.Tensor, roles: torch.Tensor,
                      text_embeddings: torch.Tensor,
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Denoising loss of a batch (spec 3.4).

        Args:
            x0, condition_latents: (B, C, T, h, w) from ``encode_batch``.
            roles: (B,) int ``Role`` per sample.
            text_embeddings: (B, L, D) (``embed_instructions``).
            generator: CPU generator for sigma and noise (reproducible training).
        Returns:
            (scalar loss with grad, {role name: mean loss of that role's samples}).
        """
        batch = x0.shape[0]
        roles_np = roles.cpu().numpy()
        sigma = diffusion.sample_training_sigma(batch, self.layout.num_frames, self.config.noise, generator)
        noise = torch.randn(x0.shape, generator=generator)
        per_sample = self.per_sample_loss(x0, condition_latents, roles, text_embeddings, sigma, noise)
        by_role = {Role(int(r)).name.lower(): float(per_sample[roles_np == r].mean().detach())
                   for r in np.unique(roles_np)}
        return per_sample.mean(), by_role

    def per_sample_loss(self, x0: torch.Tensor, condition_latents: torch.Tensor, roles: torch.Tensor,
                        text_embeddings: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """(B,) denoising loss for given noise levels and noise (spec 3.4); sigma (B,), noise like x0."""
        roles_np = roles.cpu().numpy()
        device = x0.device
        cond_mask = torch.from_numpy(self.layout.condition_masks(roles_np)).to(device)
        loss_mask = torch.from_numpy(self.layout.loss_masks(roles_np)).to(device)
        sigma, noise = sigma.to(device), noise.to(device)
        x_sigma = x0 + sigma.reshape(-1, 1, 1, 1, 1) * noise
        x0_hat = self.denoise(x_sigma, sigma, condition_latents, cond_mask, text_embeddings)
        return diffusion.denoising_loss(x0, x0_hat, sigma, loss_mask, self.config.noise.loss_scale)

    # ------------------------------------------------------------------ persistence
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json, model.safetensors, dataset_statistics.json, text_embeddings.safetensors."""
        return save_folder(self, folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None) -> "CosmosPolicy":
        """Load a folder written by ``save_pretrained`` (or the converter); eval mode.

        ``dtype`` casts the transformer (e.g. torch.bfloat16 on GPU); the VAE stays float32.
        """
        model = load_folder(cls, folder)
        model.to(device=device or "cpu")
        if dtype is not None:
            model.transformer.to(dtype=dtype)
        return model.eval()
