# SPDX-License-Identifier: Apache-2.0
"""Model configuration: network sizes, robot layout, noise/sampler settings, named presets.

Everything here is saved with the weights (``config.json``), so training and deployment agree on
shapes. Values of the ``cosmos-predict2-2b`` preset are the official resolved ones (spec section 1,
3); small presets exist for tests and the CPU demo. Validation errors name the field and value.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cosmos_policy_ros.config_checks import check_field

# Wan2.1 VAE per-channel latent statistics (spec 1.2; equal to AutoencoderKLWan's defaults).
WAN21_LATENTS_MEAN = (-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                      0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921)
WAN21_LATENTS_STD = (2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                     3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160)
TEXT_ENCODERS = ("t5-11b", "hash")
PLATFORMS = ("libero", "robocasa", "aloha", "custom")
_check = functools.partial(check_field, "config")


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of the diffusers ``CosmosTransformer3DModel`` (official ``MinimalV1LVGDiT``).

    Args:
        num_layers / num_attention_heads / attention_head_dim: depth and width (2B: 28 / 16 / 128).
        mlp_ratio: MLP hidden width over model width.
        text_embed_dim: width of the text embedding the cross-attention reads (T5-11B: 1024).
        text_max_tokens: text tokens per instruction (T5 padding length, 512 upstream).
        adaln_lora_dim: rank of the adaLN-LoRA modulation.
        max_size: (frames, height, width) bound of the RoPE position table.
        patch_size: (t, h, w) patch.
        rope_scale: (t, h, w) RoPE extrapolation ratios.
        qk_norm_eps: eps of the per-head q/k RMSNorm (official TE RMSNorm: 1e-6; diffusers default 1e-5).
        absolute_pos_embed: add diffusers' learnable absolute position embedding
            (``extra_pos_embed_type="learnable"``) to every block. Off in the official 2B (RoPE only,
            ``extra_per_block_abs_pos_emb=False``). An option for small models trained from
            scratch, where RoPE only tells a token where others are relative to itself. Alone it
            did not make the demo-sized DiT find a small object behind a random VAE
            (``experiments/localization_probe.py``); behind the demo's trained VAE it sped up learning
            where the named block is (README, finding 11), so the demo model uses it.
    """

    num_layers: int = 28
    num_attention_heads: int = 16
    attention_head_dim: int = 128
    mlp_ratio: float = 4.0
    text_embed_dim: int = 1024
    text_max_tokens: int = 512
    adaln_lora_dim: int = 256
    max_size: tuple[int, int, int] = (128, 240, 240)
    patch_size: tuple[int, int, int] = (1, 2, 2)
    rope_scale: tuple[float, float, float] = (1.0, 3.0, 3.0)
    qk_norm_eps: float = 1e-6
    absolute_pos_embed: bool = False

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_attention_heads", "attention_head_dim", "text_embed_dim",
                     "text_max_tokens", "adaln_lora_dim"):
            _check(getattr(self, name) >= 1, f"dit.{name}", getattr(self, name), "must be >= 1")
        _check(self.mlp_ratio > 0, "dit.mlp_ratio", self.mlp_ratio, "must be > 0")
        _check(len(self.patch_size) == 3 and self.patch_size[0] == 1, "dit.patch_size", self.patch_size,
               "must be (1, h, w): per-frame timesteps need a temporal patch of 1")
        _check(0 < self.qk_norm_eps < 1e-3, "dit.qk_norm_eps", self.qk_norm_eps, "must be in (0, 1e-3)")

    @property
    def hidden_size(self) -> int:
        return self.num_attention_heads * self.attention_head_dim


@dataclass(frozen=True)
class VAEConfig:
    """Sizes of the diffusers ``AutoencoderKLWan`` (Wan2.1 VAE; defaults = official).

    Args:
        base_dim: width of the first stage (official 96).
        z_dim: latent channels (16; the DiT reads the same number).
        dim_mult: width multipliers per stage; spatial compression = 2 ** (len(dim_mult) - 1).
        num_res_blocks: residual blocks per stage.
        temperal_downsample: which stage transitions halve time (diffusers' spelling).
        latents_mean / latents_std: per-channel normalization z = (mu - mean) / std.
    """

    base_dim: int = 96
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temperal_downsample: tuple[bool, ...] = (False, True, True)
    latents_mean: tuple[float, ...] = WAN21_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN21_LATENTS_STD

    def __post_init__(self) -> None:
        _check(self.base_dim >= 1, "vae.base_dim", self.base_dim, "must be >= 1")
        _check(len(self.temperal_downsample) == len(self.dim_mult) - 1, "vae.temperal_downsample",
               self.temperal_downsample, f"must have len(dim_mult) - 1 = {len(self.dim_mult) - 1} entries")
        _check(len(self.latents_mean) == self.z_dim, "vae.latents_mean", len(self.latents_mean),
               f"must have z_dim={self.z_dim} entries")
        _check(len(self.latents_std) == self.z_dim and min(self.latents_std) > 0, "vae.latents_std",
               self.latents_std, f"must have z_dim={self.z_dim} positive entries")

    @property
    def spatial_compression(self) -> int:
        return 2 ** (len(self.dim_mult) - 1)

    @property
    def temporal_compression(self) -> int:
        return 2 ** sum(bool(d) for d in self.temperal_downsample)


@dataclass(frozen=True)
class LayoutConfig:
    """What the robot contributes to the latent sequence (spec 2.2).

    Args:
        platform: libero | robocasa | aloha | custom (informative; shapes come from the fields).
        camera_names: cameras in slot order.
        proprio_dim / action_dim: proprio and action vector sizes (raw units, normalized by the codec).
        chunk_length: actions per predicted chunk (K).
        image_height / image_width: pixels the VAE sees per camera.
    """

    platform: str = "custom"
    camera_names: tuple[str, ...] = ("wrist", "primary")
    proprio_dim: int = 9
    action_dim: int = 7
    chunk_length: int = 16
    image_height: int = 224
    image_width: int = 224

    def __post_init__(self) -> None:
        _check(self.platform in PLATFORMS, "layout.platform", self.platform, f"must be one of {PLATFORMS}")
        _check(len(self.camera_names) >= 1, "layout.camera_names", self.camera_names, "needs a camera")
        _check(len(set(self.camera_names)) == len(self.camera_names), "layout.camera_names",
               self.camera_names, "has duplicates")
        for name in ("proprio_dim", "action_dim", "chunk_length", "image_height", "image_width"):
            _check(getattr(self, name) >= 1, f"layout.{name}", getattr(self, name), "must be >= 1")

    @classmethod
    def for_robot(cls, camera_names: tuple[str, ...], num_joints: int, chunk_length: int,
                  image_size: tuple[int, int], action_dim: int | None = None) -> "LayoutConfig":
        """The one robot -> latent-layout rule (deployment presets and training sets both use it):
        a ``custom`` platform, the cameras in order, proprio = the joint positions, one action per
        joint unless the action space says otherwise (``ee_delta``: 7)."""
        return cls(platform="custom", camera_names=tuple(camera_names), proprio_dim=num_joints,
                   action_dim=num_joints if action_dim is None else action_dim, chunk_length=chunk_length,
                   image_height=image_size[0], image_width=image_size[1])

    @classmethod
    def from_robot_preset(cls, preset: Any, image_size: tuple[int, int] | None = None) -> "LayoutConfig":
        """Layout of a ``cosmos_policy_ros.presets.RobotPreset`` (:meth:`for_robot`, its action names).

        Args:
            preset: the robot preset (cameras in model order, joints, action space, chunk_length).
            image_size: (height, width) the model sees; default: the cameras' ``model_size`` (all
                must agree).
        """
        sizes = {c.model_size for c in preset.cameras}
        if image_size is None:
            _check(len(sizes) == 1, "preset.cameras[].model_size", sorted(sizes),
                   "differ; pass image_size explicitly")
            image_size = sizes.pop()
        return cls.for_robot(tuple(c.name for c in preset.cameras), preset.num_joints, preset.chunk_length,
                             image_size, action_dim=len(preset.action_names))

    def fake_observation(self, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Random uint8 images (every camera, at the layout's size) and proprio in [-1, 1].

        What a random-weight model is fed where only shapes matter (benches, tests), as openpi's
        ``fake_obs``; images are drawn first, camera by camera, then the proprio.
        """
        rng = np.random.RandomState(seed)
        images = {c: rng.randint(0, 256, (self.image_height, self.image_width, 3), dtype=np.uint8)
                  for c in self.camera_names}
        return images, rng.uniform(-1, 1, self.proprio_dim)


@dataclass(frozen=True)
class SamplerConfig:
    """Inference sampler (spec 3.5): Karras schedule + official "2ab" multistep solver.

    Args:
        sigma_max / sigma_min / rho: schedule end points and exponent (80 / 4 / 7 at inference).
        policy_num_steps: denoiser evaluations for an action chunk (LIBERO/RoboCasa 5, ALOHA 10);
            policy_node's ``num_denoising_steps`` overrides it.
        world_model_num_steps / value_num_steps: evaluations of a future-state / value sample
            (upstream ``num_denoising_steps_future_state`` / ``_value``, ALOHA planning 5): the
            planner's fast-mode sample and the largest member of its full-mode ensembles
            (``core.planning.PlannerConfig`` takes them from the checkpoint).

    N = 2 runs ONE evaluation, at sigma_max, exactly like N = 1 (upstream sampler, spec 3.5, kept
    for parity): 1 and 2 compute the same thing; 3 is the first count that adds evaluations.
    """

    sigma_max: float = 80.0
    sigma_min: float = 4.0
    rho: float = 7.0
    policy_num_steps: int = 5
    world_model_num_steps: int = 1
    value_num_steps: int = 1

    def __post_init__(self) -> None:
        _check(0 < self.sigma_min < self.sigma_max, "sampler.sigma_min", (self.sigma_min, self.sigma_max),
               "must satisfy 0 < sigma_min < sigma_max")
        _check(self.rho > 0, "sampler.rho", self.rho, "must be > 0")
        for name in ("policy_num_steps", "world_model_num_steps", "value_num_steps"):
            _check(getattr(self, name) >= 1, f"sampler.{name}", getattr(self, name), "must be >= 1")


@dataclass(frozen=True)
class NoiseConfig:
    """Training noise distribution and loss (spec 3.3-3.4; resolved official values).

    sigma = sqrt(num_latent_frames) * sigma0; sigma0 ~ LogNormal(p_mean, p_std) with probability
    1 - uniform_prob, else Uniform(uniform_min, uniform_max).
    """

    p_mean: float = math.log(4.0)
    p_std: float = 1.2
    uniform_prob: float = 0.3
    uniform_min: float = 1.0
    uniform_max: float = 85.0
    scale_by_sqrt_num_frames: bool = True
    loss_scale: float = 10.0

    def __post_init__(self) -> None:
        _check(self.p_std > 0, "noise.p_std", self.p_std, "must be > 0")
        _check(0.0 <= self.uniform_prob <= 1.0, "noise.uniform_prob", self.uniform_prob, "must be in [0, 1]")
        _check(0 < self.uniform_min < self.uniform_max, "noise.uniform_min", (self.uniform_min, self.uniform_max),
               "must satisfy 0 < uniform_min < uniform_max")
        _check(self.loss_scale > 0, "noise.loss_scale", self.loss_scale, "must be > 0")


@dataclass(frozen=True)
class CosmosPolicyConfig:
    """The whole model. ``text_encoder``: "t5-11b" (embeddings precomputed offline into the text
    cache) or "hash" (small presets: a deterministic per-word embedding table, see text_cache).
    ``trained_with_image_aug``: the weights were trained with the 90 %-area random crop (spec 4.3),
    so inference applies upstream's matching centre crop to every frame (spec 5.1; upstream
    ``trained_with_image_aug``); the trainer and the official-checkpoint converter set it."""

    dit: DiTConfig = field(default_factory=DiTConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    text_encoder: str = "t5-11b"
    preset_name: str = ""
    trained_with_image_aug: bool = False

    def __post_init__(self) -> None:
        _check(self.text_encoder in TEXT_ENCODERS, "text_encoder", self.text_encoder,
               f"must be one of {TEXT_ENCODERS}")
        step = self.vae.spatial_compression * self.dit.patch_size[1]
        for name in ("image_height", "image_width"):
            size = getattr(self.layout, name)
            _check(size % step == 0, f"layout.{name}", size,
                   f"must be a multiple of vae compression x patch = {step}")
        frame_size = self.vae.z_dim * self.latent_height * self.latent_width
        action_size = self.layout.chunk_length * self.layout.action_dim
        _check(action_size <= frame_size, "layout.chunk_length*action_dim", action_size,
               f"must fit at least once into a latent frame of {frame_size} values")

    @property
    def latent_height(self) -> int:
        return self.layout.image_height // self.vae.spatial_compression

    @property
    def latent_width(self) -> int:
        return self.layout.image_width // self.vae.spatial_compression

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CosmosPolicyConfig":
        parts = {"dit": DiTConfig, "vae": VAEConfig, "layout": LayoutConfig, "sampler": SamplerConfig,
                 "noise": NoiseConfig}
        kwargs = {}
        for key, value in data.items():
            if key in parts:
                kwargs[key] = _dataclass_from_dict(parts[key], value, key)
            else:
                kwargs[key] = value
        return _dataclass_from_dict(cls, kwargs, "config", already_built=set(parts))

    @classmethod
    def from_json(cls, path: str | Path) -> "CosmosPolicyConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def replace(self, **changes: Any) -> "CosmosPolicyConfig":
        return dataclasses.replace(self, **changes)


def _dataclass_from_dict(cls: type, data: dict[str, Any], where: str,
                         already_built: set[str] = frozenset()) -> Any:
    """Build a frozen dataclass from JSON data; lists become tuples; unknown keys get a hint."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        hints = {k: difflib.get_close_matches(k, list(known), n=1) for k in unknown}
        raise ValueError(f"{where}: unknown field(s) {unknown}; did you mean {hints}?")
    kwargs = {}
    for key, value in data.items():
        if key not in already_built and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

LIBERO_LAYOUT = LayoutConfig(platform="libero", camera_names=("wrist", "primary"), proprio_dim=9,
                             action_dim=7, chunk_length=16)
ROBOCASA_LAYOUT = LayoutConfig(platform="robocasa", camera_names=("wrist", "primary", "secondary"),
                               proprio_dim=9, action_dim=7, chunk_length=32)
ALOHA_LAYOUT = LayoutConfig(platform="aloha", camera_names=("left_wrist", "right_wrist", "primary"),
                            proprio_dim=14, action_dim=14, chunk_length=50)
LAYOUTS = {"libero": LIBERO_LAYOUT, "robocasa": ROBOCASA_LAYOUT, "aloha": ALOHA_LAYOUT}

_PRESETS: dict[str, Callable[[], CosmosPolicyConfig]] = {}


def register_preset(name: str) -> Callable[[Callable[[], CosmosPolicyConfig]], Callable[[], CosmosPolicyConfig]]:
    """Decorator: register a config factory under a unique name."""
    def wrap(factory: Callable[[], CosmosPolicyConfig]) -> Callable[[], CosmosPolicyConfig]:
        if name in _PRESETS:
            raise ValueError(f"model preset {name!r} is registered twice")
        _PRESETS[name] = factory
        return factory
    return wrap


def available_presets() -> list[str]:
    return sorted(_PRESETS)


def get_preset(name: str, layout: LayoutConfig | None = None) -> CosmosPolicyConfig:
    """The named preset, optionally with another robot layout (image size kept from the layout)."""
    if name not in _PRESETS:
        hint = difflib.get_close_matches(name, list(_PRESETS), n=1)
        raise ValueError(f"unknown model preset {name!r}; available: {available_presets()}"
                         + (f"; did you mean {hint[0]!r}?" if hint else ""))
    config = _PRESETS[name]()
    return config if layout is None else config.replace(layout=layout)


@register_preset("cosmos-predict2-2b")
def _preset_2b() -> CosmosPolicyConfig:
    """The official Cosmos-Predict2-2B Video2World DiT + Wan2.1 VAE, LIBERO layout, 224 px."""
    return CosmosPolicyConfig(layout=LIBERO_LAYOUT, text_encoder="t5-11b", preset_name="cosmos-predict2-2b")


@register_preset("tiny")
def _preset_tiny() -> CosmosPolicyConfig:
    """Unit tests: 2 layers, 2 heads x 16, a 4-wide Wan VAE, 32 px images, 2-step sampling."""
    return CosmosPolicyConfig(
        dit=DiTConfig(num_layers=2, num_attention_heads=2, attention_head_dim=16, text_embed_dim=16,
                      text_max_tokens=8, adaln_lora_dim=8),
        vae=VAEConfig(base_dim=4),
        layout=LayoutConfig(platform="custom", camera_names=("wrist", "primary"), proprio_dim=4,
                            action_dim=3, chunk_length=4, image_height=32, image_width=32),
        sampler=SamplerConfig(policy_num_steps=2),
        text_encoder="hash", preset_name="tiny")


@register_preset("demo-small")
def _preset_demo_small() -> CosmosPolicyConfig:
    """CPU demo: 64 px images, 4 layers of width 192, an 8-wide Wan VAE, the sim arm's layout."""
    return CosmosPolicyConfig(
        dit=DiTConfig(num_layers=4, num_attention_heads=4, attention_head_dim=48, text_embed_dim=32,
                      text_max_tokens=16, adaln_lora_dim=32),
        vae=VAEConfig(base_dim=8),
        layout=LayoutConfig(platform="custom", camera_names=("wrist", "primary"), proprio_dim=7,
                            action_dim=7, chunk_length=16, image_height=64, image_width=64),
        sampler=SamplerConfig(policy_num_steps=5),
        text_encoder="hash", preset_name="demo-small")
