# SPDX-License-Identifier: Apache-2.0
"""Official Cosmos Policy checkpoints -> a ``CosmosPolicy.from_pretrained`` folder (spec 7).

An official file is a flat ``{name: tensor}`` mapping (``.pt`` pickle or safetensors) with the DiT
under ``net.`` (and ``net_ema.`` when EMA weights exist), possibly wrapped in ``{"model": ...}``
or ``{"state_dict": ...}``. ``.pt`` files are read with ``torch.load(weights_only=True)`` only:
a pickle that would run code is refused. Names are mapped one by one to diffusers'
``CosmosTransformer3DModel`` (the table of diffusers' ``convert_cosmos_to_diffusers.py`` for
Cosmos 2.0); bookkeeping buffers are dropped; any unknown, missing or mis-shaped key aborts with
the list. The DiT file holds no VAE: the Wan2.1 VAE weights come separately (diffusers format).

Which weights: ``net.``, as official inference loads them (``_src/predict2/utils/model_loader.py``
L294 forces ``load_ema_to_reg=False`` for ``.pt`` files; ``text2world_model.py``
``load_state_dict`` puts ``net.`` into ``self.net``, the network that samples; policy runs train
with EMA off). ``net_ema.`` only on request, or when a file has no ``net.`` keys.

TransformerEngine ``*._extra_state`` (its RMSNorms: q/k norms, ``t_embedding_norm``) carries FP8
metadata, never weights; upstream skips it on load (``_src/imaginaire/utils/checkpointer.py``
L450, ``checkpointer/dcp.py`` L110). Its stored form depends on the TE version that saved the
file: a uint8 tensor (TE < 1.0 and >= 1.14, NVIDIA/TransformerEngine PR #1335; empty without
FP8), an ``io.BytesIO`` holding a ``torch.save`` (TE 1.0-1.13, PR #363), or ``None``. The
released files were not inspectable from here; a third-party test in a Cosmos-Predict2 fork
mirrors them with uint8-tensor extra state. Upstream reads them with ``weights_only=False``
(``model_loader.py`` L228, ``INTERNAL`` is off outside NVIDIA); here ``io.BytesIO`` is the one
class allowed beyond torch's weights-only set (building it runs no code), and every
``_extra_state`` entry is dropped whatever its form.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import pickle
import re
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import LAYOUTS, CosmosPolicyConfig, LayoutConfig
from cosmos_policy_ros.core.networks import build_transformer
from cosmos_policy_ros.core.pretrained import write_folder
from cosmos_policy_ros.core.text_cache import TextEmbeddingCache

LOG = logging.getLogger(__name__)
# Official deployment step counts (spec 5.2-5.4): actions LIBERO/RoboCasa 5, ALOHA 10 (``deploy.py``
# ``num_denoising_steps_action``); future state / value 5 (``deploy.py`` L80-81, planning server).
OFFICIAL_POLICY_NUM_STEPS = {"libero": 5, "robocasa": 5, "aloha": 10}
OFFICIAL_PLANNING_NUM_STEPS = 5
EMA_PREFIX = "net_ema."
REGULAR_PREFIX = "net."
WRAPPER_KEYS = ("model", "state_dict")
DROPPED_KEYS = frozenset({"accum_video_sample_counter", "accum_image_sample_counter", "accum_iteration",
                          "accum_train_in_hours", "pos_embedder.seq", "pos_embedder.dim_spatial_range",
                          "pos_embedder.dim_temporal_range"})
DROPPED_SUFFIX = "._extra_state"  # TransformerEngine norm state

TOP_LEVEL_NAMES = {
    "x_embedder.proj.1.weight": "patch_embed.proj.weight",
    "t_embedder.1.linear_1.weight": "time_embed.t_embedder.linear_1.weight",
    "t_embedder.1.linear_2.weight": "time_embed.t_embedder.linear_2.weight",
    "t_embedding_norm.weight": "time_embed.norm.weight",
    "final_layer.adaln_modulation.1.weight": "norm_out.linear_1.weight",
    "final_layer.adaln_modulation.2.weight": "norm_out.linear_2.weight",
    "final_layer.linear.weight": "proj_out.weight",
}
_ATTENTIONS = {"self_attn": "attn1", "cross_attn": "attn2"}
_ATTENTION_PARTS = {"q_proj": "to_q", "k_proj": "to_k", "v_proj": "to_v", "output_proj": "to_out.0",
                    "q_norm": "norm_q", "k_norm": "norm_k"}
_MODULATIONS = {"adaln_modulation_self_attn": "norm1", "adaln_modulation_cross_attn": "norm2",
                "adaln_modulation_mlp": "norm3"}
BLOCK_NAMES = {
    **{f"{a}.{p}.weight": f"{da}.{dp}.weight" for a, da in _ATTENTIONS.items() for p, dp in _ATTENTION_PARTS.items()},
    **{f"{m}.{i}.weight": f"{dm}.linear_{i}.weight" for m, dm in _MODULATIONS.items() for i in (1, 2)},
    "mlp.layer1.weight": "ff.net.0.proj.weight",
    "mlp.layer2.weight": "ff.net.2.weight",
}
_BLOCK_PATTERN = re.compile(r"^blocks\.(\d+)\.(.+)$")


class CheckpointError(ValueError):
    """The checkpoint cannot be converted (unsafe, unknown keys, missing keys, wrong shapes)."""


def official_to_diffusers_name(name: str) -> str | None:
    """Diffusers name of an official DiT key (``net.`` stripped); None for unknown names."""
    if name in TOP_LEVEL_NAMES:
        return TOP_LEVEL_NAMES[name]
    match = _BLOCK_PATTERN.match(name)
    if match and match.group(2) in BLOCK_NAMES:
        return f"transformer_blocks.{match.group(1)}.{BLOCK_NAMES[match.group(2)]}"
    return None


def is_dropped(name: str) -> bool:
    return name in DROPPED_KEYS or name.endswith(DROPPED_SUFFIX)


def load_official_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official checkpoint without executing pickled code; unwraps model/state_dict."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        with torch.serialization.safe_globals([io.BytesIO]):  # TE 1.0-1.13 extra state (module docstring)
            data = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path} contains pickled objects beyond plain tensors; refused to load it "
                              f"(only torch.load(weights_only=True) is used): {err}") from err
    for key in WRAPPER_KEYS:
        if isinstance(data, dict) and set(data) == {key}:
            data = data[key]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a flat {{name: tensor}} mapping")
    data = {k: v for k, v in data.items() if not k.endswith(DROPPED_SUFFIX)}  # any form of TE extra state
    if not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path} is not a flat {{name: tensor}} mapping")
    return data


def select_weights(state: dict[str, torch.Tensor], use_ema: bool | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """Keep one weight set and strip its prefix.

    Args:
        use_ema: True = ``net_ema.`` (error if absent), False = ``net.``, None = ``net.`` as official
            inference loads it (``net_ema.`` only when the file has no ``net.`` keys).
    Returns:
        (stripped state dict, chosen prefix).
    """
    has_ema = any(k.startswith(EMA_PREFIX) for k in state)
    has_regular = any(k.startswith(REGULAR_PREFIX) for k in state)
    prefix = EMA_PREFIX if (use_ema or (use_ema is None and has_ema and not has_regular)) else REGULAR_PREFIX
    if prefix == EMA_PREFIX and not has_ema:
        raise CheckpointError("EMA weights requested but the checkpoint has no 'net_ema.' keys")
    chosen = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not chosen:
        raise CheckpointError(f"no '{prefix}' keys in the checkpoint (first keys: {sorted(state)[:5]})")
    return chosen, prefix


def convert_state_dict(official: dict[str, torch.Tensor],
                       expected: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Map official names to diffusers names; refuse unknown, missing and mis-shaped keys.

    Args:
        official: prefix-stripped official state dict.
        expected: diffusers name -> shape of the target transformer.
    """
    converted, unknown, bad_shape = {}, [], []
    for name, tensor in tqdm(sorted(official.items()), desc="converting", unit="tensor", leave=False):
        if is_dropped(name):
            continue
        target = official_to_diffusers_name(name)
        if target is None or target not in expected:
            unknown.append(name)
        elif tuple(tensor.shape) != tuple(expected[target]):
            bad_shape.append(f"{name}: {list(tensor.shape)} != {list(expected[target])}")
        else:
            converted[target] = tensor
    missing = sorted(set(expected) - set(converted))
    if unknown or missing or bad_shape:
        raise CheckpointError(f"checkpoint does not match the model config: unknown keys {unknown}, "
                              f"missing keys {missing}, shape mismatches {bad_shape}")
    return converted


def expected_transformer_shapes(config: CosmosPolicyConfig) -> dict[str, torch.Size]:
    """Parameter names and shapes of the config's transformer, built on the meta device."""
    with torch.device("meta"):
        transformer = build_transformer(config.dit, config.vae.z_dim)
    return {k: v.shape for k, v in transformer.state_dict().items()}


def official_deployment(config: CosmosPolicyConfig) -> CosmosPolicyConfig:
    """``config`` with what the official checkpoints were trained and are deployed with: the
    platform's step counts, the test-time centre crop (every released run trained with the
    random crop, ``trained_with_image_aug=True`` in all official deploy commands). A custom
    platform keeps the config's step counts."""
    platform = config.layout.platform
    config = config.replace(trained_with_image_aug=True)
    if platform not in OFFICIAL_POLICY_NUM_STEPS:  # a lab's own layout: its step counts stay
        LOG.info("layout platform %r is not an official one: keeping the config's step counts", platform)
        return config
    sampler = dataclasses.replace(config.sampler, policy_num_steps=OFFICIAL_POLICY_NUM_STEPS[platform],
                                  world_model_num_steps=OFFICIAL_PLANNING_NUM_STEPS,
                                  value_num_steps=OFFICIAL_PLANNING_NUM_STEPS)
    return config.replace(sampler=sampler)


def official_layout(platform: str, camera_names: Sequence[str] = ()) -> LayoutConfig:
    """The official layout of ``platform``; ``camera_names`` (a robot preset's cameras, in slot
    order) rename its cameras so policy_node finds them under the robot's names."""
    layout = LAYOUTS[platform]
    if not camera_names:
        return layout
    if len(camera_names) != len(layout.camera_names):
        raise CheckpointError(f"{platform} has {len(layout.camera_names)} cameras {list(layout.camera_names)}; "
                              f"the robot names {len(camera_names)}: {list(camera_names)}")
    return dataclasses.replace(layout, camera_names=tuple(camera_names))


def convert_checkpoint(checkpoint: str | Path, out_folder: str | Path, config: CosmosPolicyConfig,
                       statistics: DatasetStatistics, vae_weights: str | Path,
                       use_ema: bool | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Convert an official checkpoint into a from_pretrained folder.

    Args:
        checkpoint: official ``.pt`` or ``.safetensors`` file.
        out_folder: destination folder.
        config: model config (DiT sizes must match the checkpoint; layout = the robot's); its step
            counts and crop are set to the official deployment's (``official_deployment``).
        statistics: the checkpoint's ``*_dataset_statistics.json``.
        vae_weights: diffusers-format ``AutoencoderKLWan`` safetensors (Wan2.1 VAE).
        use_ema: see ``select_weights``.
        dtype: dtype of the stored transformer weights.
    """
    config = official_deployment(config)
    official, prefix = select_weights(load_official_file(checkpoint), use_ema)
    LOG.info("using '%s' weights (%d tensors)", prefix, len(official))
    transformer_state = convert_state_dict(official, expected_transformer_shapes(config))
    transformer_state = {k: v.to(dtype) for k, v in transformer_state.items()}
    vae_state = load_file(str(vae_weights))
    text_cache = TextEmbeddingCache(config.dit.text_max_tokens, config.dit.text_embed_dim, config.text_encoder)
    return write_folder(out_folder, config, transformer_state, vae_state, statistics, text_cache)
