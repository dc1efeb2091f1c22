# SPDX-License-Identifier: Apache-2.0
"""Extra latency of policy_node's imagination outputs: decode of the imagined future + candidate paths.

Random weights (timing only), the sim_arm robot (its URDF for the paths, 64 px images), plan-and-select
N=8 in fast mode on the ``tiny`` preset (CPU: demo-small takes ~10 s per decision on a shared 2-core
machine) and, with CUDA, the official 2B preset in bf16.
Side by side per decision: the plan without imagination, the plan keeping the placeholder slots
(what delays the chunk), then after the chunk is out: one VAE decode of the selected future and
the forward kinematics + MarkerArray of the paths (what delays the next decision's start).
Ends with ``imagination device=<name> preset=<name> chunk_delay=<x> decode_ms=<y> paths_ms=<z>``.
Usage: python bench/imagination.py [--repeats 5] [--threads N]
"""
from __future__ import annotations

import statistics

import torch
from builtin_interfaces.msg import Time

from cosmos_policy_ros.control.candidate_paths import EndEffectorPaths
from cosmos_policy_ros.core.config import LayoutConfig, get_preset
from cosmos_policy_ros.core.model import CosmosPolicy
from cosmos_policy_ros.core.planning import Planner, PlannerConfig
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.plan_markers import candidate_path_markers
from timing import hardware_line, mean_ms, parse_arguments  # noqa: E402 (bench/ on sys.path)

INSTRUCTION = "reach the block"
CPU_PRESET, GPU_PRESET = "tiny", "cosmos-predict2-2b"
NUM_CANDIDATES = 8


def measure(preset: str, device: torch.device, dtype: torch.dtype | None, repeats: int) -> dict[str, float]:
    robot = load_preset("sim_arm")
    torch.manual_seed(0)
    config = get_preset(preset, layout=LayoutConfig.from_robot_preset(robot, image_size=(64, 64)))
    model = CosmosPolicy(config).to(device).eval()
    if dtype is not None:
        model.transformer.to(dtype=dtype)
    if model.config.text_encoder != "hash":
        model.text_cache.add(INSTRUCTION, torch.randn(config.dit.text_max_tokens, config.dit.text_embed_dim))
    images, proprio = model.config.layout.fake_observation(0)
    planner = Planner(model, config=PlannerConfig(num_candidates=NUM_CANDIDATES, mode="fast", policy_num_steps=5,
                                                  future_max_num_steps=1, value_max_num_steps=1))
    plan = planner.plan(images, proprio, INSTRUCTION, 0, imagine=True)
    arm = [j for j in robot.joints if j not in robot.gripper_joints]
    paths = EndEffectorPaths(robot.urdf_path, robot.joints, arm)
    cases = {"plan": lambda: planner.plan(images, proprio, INSTRUCTION, 0),
             "plan keeping placeholders": lambda: planner.plan(images, proprio, INSTRUCTION, 0, imagine=True),
             "decode imagined images (after the chunk)": plan.imagine,
             "candidate paths (FK + MarkerArray)": lambda: candidate_path_markers(
                 paths.positions(plan.candidate_actions), plan.values, 0, "world", Time())}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved, so load drift on a shared machine hits every case alike
        for name, run in cases.items():
            samples[name].append(mean_ms(run, device, 1))
    return {name: statistics.median(times) for name, times in samples.items()}


def main() -> None:
    args = parse_arguments(__doc__.splitlines()[0], repeats=5)
    print(hardware_line())
    runs = [(CPU_PRESET, torch.device("cpu"), None)]
    if torch.cuda.is_available():
        runs.append((GPU_PRESET, torch.device("cuda"), torch.bfloat16))
    last = ""
    for preset, device, dtype in runs:
        times = measure(preset, device, dtype, args.repeats)
        print(f"[{device}, preset {preset}, N={NUM_CANDIDATES} fast, median of {args.repeats}]")
        for name, ms in times.items():
            print(f"  {name:<42} {ms:9.1f} ms   {ms / times['plan']:5.2f}x plan")
        delay = times["plan keeping placeholders"] / times["plan"]
        name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
        last = (f"imagination device={name.replace(' ', '_')} preset={preset} chunk_delay={delay:.2f}x "
                f"decode_ms={times['decode imagined images (after the chunk)']:.1f} "
                f"paths_ms={times['candidate paths (FK + MarkerArray)']:.1f}")
    print(last)


if __name__ == "__main__":
    main()
