# SPDX-License-Identifier: Apache-2.0
"""Can the demo-sized model learn *where* something is in an image? A synthetic probe.

Why: the demo policy must find a 2-3 px block in a 32 px image. This probe isolates that skill
from the robot: the action chunk is the horizontal position of a red square in the third-person
image (left edge -1, right edge +1), the wrist image is blank, proprio is constant. The DiT
(config/demo/model.json sizes, fresh weights) trains with the real objective
(``CosmosPolicy.training_loss``, policy role) and is then sampled as at deployment. It reports the
sampled chunk's MSE next to that of the best constant chunk: below 1.0x means it localizes.

``--signal half`` paints everything left of the position instead (a large signal): it separates
"the image path works" from "small objects are hard to find". The VAE is the demo's: the
He-initialised encoder of ``train/scratch_vae.py`` (frozen, as in training), or with ``--vae-from``
the VAE (weights and latent statistics) of a saved model folder, e.g. one trained on sim frames.

Last line, machine-readable: ``localization_probe signal=<s> size_px=<n> steps=<k>
abs_pos=<0|1> vae=<he_init|loaded> model_mse=<a> constant_mse=<b> ratio=<a/b>``.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from cosmos_policy_ros.core import features
from cosmos_policy_ros.core.codec import DatasetStatistics
from cosmos_policy_ros.core.config import CosmosPolicyConfig
from cosmos_policy_ros.core.layout import Role
from cosmos_policy_ros.core.model import CosmosPolicy, EncodedObservation
from cosmos_policy_ros.train.scratch_vae import reinitialize_encoder

from bench.timing import hardware_line

REPO = Path(__file__).resolve().parents[1]
INSTRUCTION = "touch the red block"
BACKGROUND_RGB, TARGET_RGB = (230, 200, 160), (220, 30, 30)  # table beige, block red (sim colours)
PRIMARY_CAMERA = 1  # third-person view in the demo layout (wrist first)
EVAL_SAMPLES, EVAL_NUM_STEPS = 32, 5


def synthetic_batch(config: CosmosPolicyConfig, size: int, rng: np.random.RandomState, signal: str,
                    size_px: int) -> dict[str, np.ndarray]:
    """Images with a red square (or left half) whose x position is the action level everywhere."""
    layout = config.layout
    height, width = layout.image_height, layout.image_width
    images = np.empty((size, len(layout.camera_names), height, width, 3), np.uint8)
    images[:] = BACKGROUND_RGB
    xs = rng.randint(0, width - size_px + 1, size)
    ys = rng.randint(0, height - size_px + 1, size)
    for i, (x, y) in enumerate(zip(xs, ys)):
        if signal == "dot":
            images[i, PRIMARY_CAMERA, y:y + size_px, x:x + size_px] = TARGET_RGB
        else:
            images[i, PRIMARY_CAMERA, :, :x + size_px] = TARGET_RGB
    level = (2.0 * xs / max(width - size_px, 1) - 1.0).astype(np.float32)  # [-1, 1]
    actions = np.broadcast_to(level[:, None, None], (size, layout.chunk_length, layout.action_dim)).copy()
    proprio = np.zeros((size, layout.proprio_dim), np.float32)
    return {features.OBS_IMAGES: images, features.FUTURE_IMAGES: images, features.OBS_PROPRIO: proprio,
            features.FUTURE_PROPRIO: proprio, features.ACTIONS: actions,
            features.VALUE_TARGET: np.ones(size, np.float32)}


def unit_statistics(config: CosmosPolicyConfig) -> DatasetStatistics:
    """Actions and proprio normalised from [-1, 1] (identity)."""
    layout = config.layout
    bounds = lambda dim: np.stack([-np.ones(dim), np.ones(dim)]).astype(np.float32)  # noqa: E731
    return DatasetStatistics.from_arrays(bounds(layout.action_dim), bounds(layout.proprio_dim))


def probe_model(config: CosmosPolicyConfig, seed: int, vae_from: Path | None) -> CosmosPolicy:
    """Fresh DiT; the demo's He-initialised VAE, or the VAE of the model folder ``vae_from``."""
    torch.manual_seed(seed)
    if vae_from is None:
        model = CosmosPolicy(config, unit_statistics(config))
        reinitialize_encoder(model, seed)
        return model
    source = CosmosPolicy.from_pretrained(vae_from)
    config = config.replace(vae=source.config.vae)
    model = CosmosPolicy(config, unit_statistics(config))
    model.vae.load_state_dict(source.vae.state_dict())
    return model


def probe(config: CosmosPolicyConfig, signal: str, size_px: int, steps: int, batch_size: int,
          learning_rate: float, seed: int, vae_from: Path | None = None) -> tuple[float, float]:
    """Train on the synthetic task, sample held-out chunks; (model MSE, best constant MSE)."""
    model = probe_model(config, seed, vae_from)
    config = model.config
    optimizer = torch.optim.AdamW(model.transformer.parameters(), lr=learning_rate, weight_decay=0.1)
    rng, generator = np.random.RandomState(seed), torch.Generator().manual_seed(seed)
    text = model.embed_instructions([INSTRUCTION] * batch_size)
    roles = torch.full((batch_size,), int(Role.POLICY))
    model.transformer.train()
    for step in range(steps):
        batch = synthetic_batch(config, batch_size, rng, signal, size_px)
        with torch.no_grad():
            latents = model.encode_videos(batch)
        x0, condition = model.encode_batch(batch, latents)
        loss, _ = model.training_loss(x0, condition, roles, text, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.3f}", flush=True)
    model.eval()
    test = synthetic_batch(config, EVAL_SAMPLES, np.random.RandomState(seed + 1), signal, size_px)
    x0, _ = model.encode_batch(test, model.encode_videos(test))
    encoded = EncodedObservation(latents=x0, text_embedding=model.embed_instructions([INSTRUCTION]),
                                 proprio_normalized=np.zeros(config.layout.proprio_dim))
    predicted = np.concatenate([
        model.read_actions(model.generate(encoded, Role.POLICY, EVAL_NUM_STEPS, [i], condition_latents=x0[i:i + 1]))
        for i in range(EVAL_SAMPLES)])
    target = test[features.ACTIONS]
    return (float(np.mean((predicted - target) ** 2)),
            float(np.mean((target.mean(0, keepdims=True) - target) ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", choices=("dot", "half"), default="dot")
    parser.add_argument("--size-px", type=int, default=2, help="edge of the red square [px]")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--absolute-pos-embed", action="store_true", help="DiTConfig.absolute_pos_embed")
    parser.add_argument("--model-config", type=Path, default=REPO / "config" / "demo" / "model.json")
    parser.add_argument("--vae-from", type=Path, default=None,
                        help="model folder whose VAE (weights, latent statistics) to use")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = CosmosPolicyConfig.from_json(args.model_config)
    config = config.replace(dit=dataclasses.replace(config.dit, absolute_pos_embed=args.absolute_pos_embed))
    print(hardware_line())
    start = time.perf_counter()
    model_mse, constant_mse = probe(config, args.signal, args.size_px, args.steps, args.batch_size,
                                    args.learning_rate, args.seed, args.vae_from)
    print(f"trained and sampled in {time.perf_counter() - start:.0f} s")
    print(f"localization_probe signal={args.signal} size_px={args.size_px} steps={args.steps} "
          f"abs_pos={int(args.absolute_pos_embed)} vae={'he_init' if args.vae_from is None else 'loaded'} model_mse={model_mse:.4f} constant_mse={constant_mse:.4f} "
          f"ratio={model_mse / constant_mse:.2f}")


if __name__ == "__main__":
    main()
