# SPDX-License-Identifier: Apache-2.0
"""Test helpers written from upstream: a checkpoint in the released layout (spec 7), the official
ALOHA client's resize and the official test-time image transform (spec 5.1).

Released layout:
Official key names from ``official_dit_keys.tsv`` (``fixture_paths.OFFICIAL_DIT_KEYS``), ``net.`` regular weights in bf16 plus a ``net_ema.`` copy with
other values, the bookkeeping buffers, and TransformerEngine ``_extra_state`` on every TE norm in
each form a TE version writes (see ``core/convert_official.py``): uint8 tensor, empty uint8
tensor, ``io.BytesIO`` of a ``torch.save``, ``None``.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cosmos_policy_ros.core.convert_official import official_to_diffusers_name
from cosmos_policy_ros.core.model import CosmosPolicy
from fixture_paths import OFFICIAL_DIT_KEYS

RELEASED_DTYPE = torch.bfloat16
TE_NORMS = ("self_attn.q_norm", "self_attn.k_norm", "cross_attn.q_norm", "cross_attn.k_norm")


def official_rows(num_layers: int) -> list[tuple[str, list[int]]]:
    """(name, shape) of the official DiT keys, blocks limited to ``num_layers``."""
    rows = []
    for line in OFFICIAL_DIT_KEYS.read_text().splitlines()[1:]:
        name, shape = line.split("\t")
        if name.startswith("blocks.") and int(name.split(".")[1]) >= num_layers:
            continue
        rows.append((name, [int(x) for x in shape.strip("[]").split(",") if x.strip()]))
    return rows


def extra_state_forms() -> list[object]:
    """One value per TransformerEngine extra-state format."""
    saved = io.BytesIO()
    torch.save(None, saved)
    return [torch.frombuffer(bytearray(pickle.dumps(None)), dtype=torch.uint8), torch.empty(0, dtype=torch.uint8),
            saved, None]


def released_state(model: CosmosPolicy) -> dict[str, object]:
    """The model's DiT under released names, as ``torch.save`` would store it."""
    ours = model.transformer.state_dict()
    state: dict[str, object] = {}
    norms = [f"blocks.{n}.{norm}" for n in range(model.config.dit.num_layers) for norm in TE_NORMS]
    norms.append("t_embedding_norm")
    for name, shape in official_rows(model.config.dit.num_layers):
        target = official_to_diffusers_name(name)
        tensor = ours[target].to(RELEASED_DTYPE) if target else torch.zeros(shape)
        state["net." + name] = tensor
        state["net_ema." + name] = torch.full_like(tensor, 0.5) if target else tensor
    forms = extra_state_forms()
    for i, norm in enumerate(norms):
        state[f"net.{norm}._extra_state"] = forms[i % len(forms)]
        state[f"net_ema.{norm}._extra_state"] = forms[(i + 1) % len(forms)]
    return state


def write_released_checkpoint(model: CosmosPolicy, path: Path) -> Path:
    torch.save(released_state(model), path)
    return path


def official_apply_image_transforms(images: np.ndarray) -> np.ndarray:
    """Upstream's test-time transform of uint8 (T, H, W, 3) images (H == W).

    Re-implements NVlabs/cosmos-policy ``cosmos_policy/experiments/robot/cosmos_utils.py``
    ``apply_image_transforms`` (commit 18a2acc) with torchvision's semantics spelled out
    (torchvision cannot be installed beside the CPU torch here): ``F.center_crop`` takes the top /
    left offset ``int(round((H - side) / 2.0))``; ``F.resize(uint8 tensor, antialias=True)`` casts
    to float32, interpolates bilinearly (align_corners=False, antialias), rounds and casts back to
    uint8 (``torchvision/transforms/_functional_tensor.py`` ``resize`` / ``_cast_squeeze_out``).
    """
    _, height, width, _ = images.shape
    out = []
    for img in torch.from_numpy(images).permute(0, 3, 1, 2):
        crop_size = int(height * 0.9 ** 0.5)
        top = int(round((height - crop_size) / 2.0))
        left = int(round((width - crop_size) / 2.0))
        crop = img[:, top:top + crop_size, left:left + crop_size]
        resized = F.interpolate(crop[None].to(torch.float32), size=[height, width], mode="bilinear",
                                align_corners=False, antialias=True)[0]
        out.append(torch.round(resized).to(torch.uint8))
    return torch.stack(out).permute(0, 2, 3, 1).numpy()


def official_aloha_client_resize(frame: np.ndarray) -> np.ndarray:
    """Upstream's ALOHA client resize of one uint8 (480, 640, 3) RealSense frame to the model's 224.

    NVlabs/cosmos-policy commit 18a2acc: ``experiments/robot/aloha/aloha_utils.py``
    ``resize_image_for_preprocessing`` (``Image.fromarray(img).resize((256, 256),
    resample=Image.BICUBIC)``), then ``run_aloha_eval.py`` ``resize_images(..., 224)``
    (``Image.fromarray(images[i]).resize((224, 224))``, PIL's default filter).
    """
    stored = np.array(Image.fromarray(frame).resize((256, 256), resample=Image.BICUBIC))
    return np.array(Image.fromarray(stored).resize((224, 224)))
