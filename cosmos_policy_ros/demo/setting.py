# SPDX-License-Identifier: Apache-2.0
"""One demo setting on the real node graph: start the nodes, run episodes, stop the nodes.

A setting is one policy configuration (plain policy N=1, or plan-and-select N=8, or no policy at
all for teleop data collection). ``planning.num_candidates`` fixes the policy node's model set-up
at configure time, so every setting starts its own node set; the sim runs on ``/clock`` at the
setting's real-time factor, and every node follows it (``use_sim_time``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmos_policy_ros.demo.episode_runner import CLEAN_EXPERT, EpisodeConfig, EpisodeResult, EpisodeRunner
from cosmos_policy_ros.demo.processes import GraphOptions, NodeProcesses, demo_graph
from cosmos_policy_ros.demo.ros_client import DemoClient
from cosmos_policy_ros.presets import load_preset
from cosmos_policy_ros.ros.operator_client import spinning

LOG = logging.getLogger(__name__)
READY_TIMEOUT_S = 120.0  # wall time for the nodes to come up (model load, first render)


@dataclass(frozen=True)
class Setting:
    """The node set of one run of episodes.

    Args:
        name: label (log folder, table row).
        preset: robot preset YAML path.
        real_time_factor: sim seconds per wall second.
        camera_rate_hz: sim camera rate.
        checkpoint: policy checkpoint; empty = no policy node.
        planning_checkpoint: the planning model that scores plan-and-select candidates; empty =
            the policy checkpoint scores them.
        num_candidates: plan-and-select N (1 = plain policy).
        planning_mode: full | fast | q_value.
        policy_seed: base seed of the policy's noise.
        record_dir: recorder output folder; empty = no recorder.
        noise: perturbation parameters of the noisy expert; empty = no noisy expert.
        expert_speed_mps: tool speed of both experts (None: the node's default).
        scene: the sim's scene YAML (block size, camera mounts); empty = the default scene.
    """

    name: str
    preset: str
    real_time_factor: float
    camera_rate_hz: float
    checkpoint: str = ""
    planning_checkpoint: str = ""
    num_candidates: int = 1
    planning_mode: str = "fast"
    policy_seed: int = 0
    record_dir: str = ""
    noise: dict[str, float] = field(default_factory=dict)
    expert_speed_mps: float | None = None
    scene: str = ""

    def graph_options(self) -> GraphOptions:
        params: dict[str, dict[str, Any]] = {
            "sim_arm": {"real_time_factor": self.real_time_factor, "camera_rate_hz": self.camera_rate_hz,
                        "scene": self.scene},
            CLEAN_EXPERT: {"enabled": False, **({} if self.expert_speed_mps is None
                                                 else {"speed_mps": self.expert_speed_mps})},
            "command_arbiter": {"start_mode": "hold"},  # every limit checked, with the defaults
        }
        if self.checkpoint:
            params["policy_node"] = {"autostart": True, "planning.num_candidates": self.num_candidates,
                                     "planning.mode": self.planning_mode, "seed": self.policy_seed,
                                     **({"planning_checkpoint": self.planning_checkpoint}
                                        if self.planning_checkpoint else {})}
        if self.noise:
            params["expert_noisy"] = {f"noise.{k}": v for k, v in self.noise.items()}
            if self.expert_speed_mps is not None:
                params["expert_noisy"]["speed_mps"] = self.expert_speed_mps
        return GraphOptions(preset=self.preset, checkpoint=self.checkpoint, record_dir=self.record_dir,
                            with_noisy_expert=bool(self.noise), params=params)


def run_setting(setting: Setting, episode_config: EpisodeConfig, log_dir: Path,
                episodes: Callable[[EpisodeRunner], Iterable[EpisodeResult]]) -> list[EpisodeResult]:
    """Start the setting's nodes, run ``episodes(runner)`` (a generator of results), stop the nodes."""
    joint_states_topic = load_preset(setting.preset).joint_states_topic
    results: list[EpisodeResult] = []
    graph = demo_graph(setting.graph_options())
    with (NodeProcesses(graph, log_dir / setting.name) as processes,
          spinning(lambda: DemoClient(joint_states_topic)) as client):
        client.service_timeout_s = READY_TIMEOUT_S  # the first calls also wait for the nodes to start
        runner = EpisodeRunner(client, episode_config)
        try:
            for result in episodes(runner):
                processes.check_alive()
                results.append(result)
                client.service_timeout_s = episode_config.first_chunk_timeout_s
        except Exception as error:
            error.add_note(f"the nodes of setting {setting.name!r}:\n{processes.status_report()}")
            raise
    return results
