# SPDX-License-Identifier: Apache-2.0
"""VAE encode time with the pixels contiguous vs channels-last, side by side.

Why: the VAE is frozen, and the training latent cache encodes every sample's whole pixel sequence
(1 + 4k frames) once; on CPU that encoding costs more than the small DiT's training step, so its
speed sizes a retrain. ``networks.vae_encode`` hands CPU pixels over channels-last; this bench
shows the ratio and the largest difference of the latents (float rounding only). CPU: the demo
VAEs in fp32 (the shipped checkpoint's and the ``demo-small`` preset's); CUDA (when available):
the same in bf16, where ``vae_encode`` keeps the default layout. Last line, machine-readable:
``vae_layout <vae>@<device>:encode_speedup=<x> ...``.
"""
from __future__ import annotations


import torch

from cosmos_policy_ros.core import networks
from cosmos_policy_ros.core.config import CosmosPolicyConfig, get_preset
from cosmos_policy_ros.demo.config import DemoConfig
from timing import hardware_line, mean_ms, parse_arguments

BATCH_CPU, BATCH_GPU = 32, 256
LATENT_FRAMES = 9  # the demo layout's latent frames (two cameras, current and future)


def bench_vae(config: CosmosPolicyConfig, batch: int, device: torch.device, dtype: torch.dtype,
              repeats: int) -> dict[str, float]:
    """Encode time [ms] of one batch in both layouts (the VAE's own ``encode``, then normalized)."""
    torch.manual_seed(0)
    vae = networks.build_vae(config.vae).to(device=device, dtype=dtype).eval()
    frames = 1 + 4 * (LATENT_FRAMES - 1)
    pixels = torch.rand(batch, 3, frames, config.layout.image_height, config.layout.image_width,
                        device=device, dtype=dtype) * 2 - 1
    channels_last = pixels.contiguous(memory_format=torch.channels_last_3d)
    with torch.no_grad():
        encode = lambda x: vae.encode(x).latent_dist.mode()  # noqa: E731 (vae_encode picks the layout itself)
        reference, other = encode(pixels), encode(channels_last)
        return {"encode_ms_contiguous": mean_ms(lambda: encode(pixels), device, repeats),
                "encode_ms_channels_last": mean_ms(lambda: encode(channels_last), device, repeats),
                "max_abs_diff": float((reference.float() - other.float()).abs().max())}


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0], repeats=3)
    vaes = {"demo_reach": CosmosPolicyConfig.from_json(DemoConfig.resolve(DemoConfig().checkpoint) / "config.json"),
            "demo-small": get_preset("demo-small")}
    runs = [(name, BATCH_CPU, torch.device("cpu"), torch.float32) for name in vaes]
    if torch.cuda.is_available():
        runs += [(name, BATCH_GPU, torch.device("cuda"), torch.bfloat16) for name in vaes]
    print(hardware_line())
    summary = []
    for name, batch, device, dtype in runs:
        r = bench_vae(vaes[name], batch, device, dtype, args.repeats)
        speedup = r["encode_ms_contiguous"] / r["encode_ms_channels_last"]
        print(f"vae={name} device={device.type} dtype={str(dtype).split('.')[-1]} batch={batch} "
              f"encode_ms_contiguous={r['encode_ms_contiguous']:.1f} "
              f"encode_ms_channels_last={r['encode_ms_channels_last']:.1f} "
              f"max_abs_diff={r['max_abs_diff']:.2e} encode_speedup={speedup:.2f}", flush=True)
        summary.append(f"{name}@{device.type}:encode_speedup={speedup:.2f}")
    print("vae_layout " + " ".join(summary))


if __name__ == "__main__":
    main()
