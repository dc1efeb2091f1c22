# SPDX-License-Identifier: Apache-2.0
"""An official checkpoint pair end to end, as the paper deploys it (ALOHA, spec 5.4).

Two tiny checkpoints in the released layout (official key names, ``net.``/``net_ema.``, TE extra
state in every form) and an embeddings pickle written the way upstream writes it are converted,
the embeddings imported (``cosmos-policy import-embeddings``), and policy_node started over real
DDS with the ``aloha`` robot preset, the policy checkpoint and the planning checkpoint: its
full-mode plan-and-select (3 futures x 5 values per candidate) publishes an ActionChunk for the
instruction, fed 640x480 rgb8 frames as Trossen's RealSense drivers publish them. The frames the
model sees on that path are resized as the official ALOHA client resizes them and centre-cropped
exactly as upstream's ``apply_image_transforms`` (checked in-process on the node's own steps:
``serving.camera_input.model_image``, then ``PolicyRunner.decide``).
"""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

pytest.importorskip("rclpy", reason="policy_node tests need rclpy")

from sensor_msgs.msg import Image, JointState  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PlanCandidates, PolicyStatus  # noqa: E402
from cosmos_policy_ros.cli import main as cli  # noqa: E402
from cosmos_policy_ros.serving.camera_input import model_image  # noqa: E402
from cosmos_policy_ros.serving.policy_runner import ModelSource, load_runner  # noqa: E402
from cosmos_policy_ros.core.codec import DatasetStatistics  # noqa: E402
from cosmos_policy_ros.core.config import CosmosPolicyConfig, get_preset  # noqa: E402
from cosmos_policy_ros.core.convert_official import convert_checkpoint, official_layout  # noqa: E402
from cosmos_policy_ros.core.model import CosmosPolicy  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import numpy_to_image  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from official_upstream import (official_aloha_client_resize, official_apply_image_transforms,  # noqa: E402
                               write_released_checkpoint)
from ros_helpers import SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PRESET = load_preset("aloha")
INSTRUCTION = "put the candy in the bag"
NUM_CANDIDATES = 2
SENSOR_PERIOD_S = 0.2
START_TIMEOUT_S = 240.0  # imports + two 224 px models + a full-mode warm-up plan on a shared CPU
FULL_MODE_SAMPLES = 3 * 5  # futures x values per candidate (official ensembles)


def _tiny_official_config() -> CosmosPolicyConfig:
    """The tiny DiT with the official ALOHA layout (224 px), cameras named as the aloha preset, T5 text."""
    layout = official_layout("aloha", [c.name for c in PRESET.cameras])
    return get_preset("tiny", layout=layout).replace(text_encoder="t5-11b")


def _convert(tmp_path: Path, name: str, seed: int) -> Path:
    torch.manual_seed(seed)
    source = CosmosPolicy(_tiny_official_config())
    save_file(source.vae.state_dict(), str(tmp_path / f"{name}_vae.safetensors"))
    released = write_released_checkpoint(source, tmp_path / f"{name}.pt")
    stats = DatasetStatistics.identity(source.config.layout.action_dim, source.config.layout.proprio_dim)
    return convert_checkpoint(released, tmp_path / name, source.config, stats, tmp_path / f"{name}_vae.safetensors")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    tmp_path = tmp_path_factory.mktemp("official")
    policy, planning = _convert(tmp_path, "policy", 0), _convert(tmp_path, "planning", 1)
    config = CosmosPolicyConfig.from_json(policy / "config.json")
    torch.manual_seed(2)
    embeddings = {INSTRUCTION: torch.randn(1, config.dit.text_max_tokens, config.dit.text_embed_dim)
                  .to(torch.bfloat16).cpu()}  # upstream: generate_t5_embeddings + pickle.dump
    with open(tmp_path / "aloha_t5_embeddings.pkl", "wb") as handle:
        pickle.dump(embeddings, handle)
    for folder in (policy, planning):
        assert cli(["import-embeddings", str(tmp_path / "aloha_t5_embeddings.pkl"), str(folder)]) == 0
    return policy, planning


def _images(seed: int = 5) -> dict[str, np.ndarray]:
    """One frame per camera at the size its driver publishes (640x480)."""
    rng = np.random.RandomState(seed)
    return {c.name: rng.randint(0, 256, (c.height, c.width, 3), dtype=np.uint8) for c in PRESET.cameras}


def test_converted_checkpoint_carries_the_official_deployment(checkpoints) -> None:
    config = CosmosPolicyConfig.from_json(checkpoints[0] / "config.json")
    assert config.sampler.policy_num_steps == 10 and config.trained_with_image_aug  # spec 5.2, 5.1


def test_decision_path_sees_centre_cropped_frames(checkpoints) -> None:
    policy, planning = checkpoints
    runner = load_runner(ModelSource(checkpoint=str(policy), device="cpu", dtype="float32",
                                     num_steps=0, num_candidates=NUM_CANDIDATES, planning_mode="auto",
                                     planning_checkpoint=str(planning)), PRESET)
    assert runner.planner.config.mode == "full" and runner.planner.planner_model is not runner.model
    seen = []
    encode = runner.model.encode_pixels
    runner.model.encode_pixels = lambda pixels, *a, **k: seen.append(pixels.clone()) or encode(pixels, *a, **k)
    frames = _images()
    images = {c.name: model_image(frames[c.name], c) for c in PRESET.cameras}
    decision = runner.decide(images, np.zeros(14), INSTRUCTION, seed=0, budget_s=float("inf"))
    expected = official_apply_image_transforms(np.stack([official_aloha_client_resize(frames[c.name])
                                                         for c in PRESET.cameras]))
    assert np.array_equal(seen[0][0].numpy(), expected)
    assert decision.plan.num_value_samples == (FULL_MODE_SAMPLES,) * NUM_CANDIDATES


class Harness:
    """policy_node (aloha preset, policy + planning checkpoints) and this process's sensors and listeners."""

    def __init__(self, env: dict, policy: Path, planning: Path) -> None:
        self.proc = start_node_process("cosmos_policy_ros.ros.policy_node", env, {
            "robot": "aloha", "checkpoint": str(policy), "planning_checkpoint": str(planning),
            "planning.num_candidates": NUM_CANDIDATES, "planning.budget_s": 60.0, "instruction": f"'{INSTRUCTION}'",
            "observation.max_age_s": 5.0, "observation.max_skew_s": 1.0, "autostart": "true"})
        self.spinner = SpinningNode("official_deployment_harness")
        node = self.spinner.node
        self.chunks: list[ActionChunk] = []
        self.plans: list[PlanCandidates] = []
        self.statuses: list[PolicyStatus] = []
        node.create_subscription(ActionChunk, "/policy_node/action_chunk", self.chunks.append, COMMAND_QOS)
        node.create_subscription(PlanCandidates, "/policy_node/plan_candidates", self.plans.append, 10)
        node.create_subscription(PolicyStatus, "/policy_node/status", self.statuses.append, LATCHED_QOS)
        # as Trossen's stack: one interbotix driver per arm, each with its own names (no prefix)
        self._arms = {source: node.create_publisher(JointState, source.topic, SENSOR_QOS)
                      for source in PRESET.state_sources}
        self._cameras = {c.name: node.create_publisher(Image, c.topic, SENSOR_QOS) for c in PRESET.cameras}
        self._images = _images()
        self.published_frames: set[tuple[str, int, int]] = set()  # (encoding, width, height)
        self._sensor_timer = node.create_timer(SENSOR_PERIOD_S, self._publish)

    def _publish(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        for source, publisher in self._arms.items():
            names = [j[len(source.prefix):] for j in PRESET.joints if j.startswith(source.prefix)]
            joints = JointState(name=names, position=[0.0] * len(names))
            joints.header.stamp = stamp
            publisher.publish(joints)
        for name, publisher in self._cameras.items():
            msg = numpy_to_image(self._images[name])
            msg.header.stamp = stamp
            publisher.publish(msg)
            self.published_frames.add((msg.encoding, msg.width, msg.height))

    def close(self) -> None:
        """Stop the sensors, wait until the node holds for want of new inputs (its running inference,
        which a stop waits for, has ended: a planning inference here outlasts any stop timeout),
        then SIGINT it (its clean shutdown) and end this process's ROS node."""
        self._sensor_timer.cancel()
        seen = len(self.statuses)
        try:
            if self.proc.poll() is None:
                wait_for(lambda: any(s.mode == PolicyStatus.MODE_HOLD for s in self.statuses[seen:]),
                         "policy_node idle without new sensor data", START_TIMEOUT_S)
            stop_process(self.proc)
        finally:
            end_processes([self.proc])
            self.spinner.close()


@pytest.fixture
def harness(ros_domain, checkpoints):
    made = Harness(ros_domain.env(), *checkpoints)
    yield made
    made.close()


def test_policy_node_plans_with_the_planning_checkpoint(harness) -> None:
    # The first chunk may plan fewer: its budget check uses the warm-up's cost, which a loaded
    # machine inflates (seen: "budget 60 s fits 1 of 2"); the next ones use measured costs.
    wait_for(lambda: any(c.num_candidates == NUM_CANDIDATES for c in harness.chunks),
             "a chunk that planned every candidate", START_TIMEOUT_S)
    chunk = next(c for c in harness.chunks if c.num_candidates == NUM_CANDIDATES)
    wait_for(lambda: any(p.chunk_sequence == chunk.sequence for p in harness.plans), "its plan")
    assert harness.published_frames == {("rgb8", 640, 480)}  # the drivers' frames, accepted and resized
    plan = next(p for p in harness.plans if p.chunk_sequence == chunk.sequence)
    assert list(chunk.joint_names) == list(PRESET.joints) and len(chunk.trajectory.points) == PRESET.chunk_length
    assert chunk.num_candidates == NUM_CANDIDATES and chunk.model_name == "policy"
    assert (plan.num_requested, plan.num_evaluated) == (NUM_CANDIDATES, NUM_CANDIDATES)
    assert list(plan.num_value_samples) == [FULL_MODE_SAMPLES] * NUM_CANDIDATES  # full mode, every sample
    assert plan.aggregation == "majority_mean"
    wait_for(lambda: harness.statuses and harness.statuses[-1].instruction == INSTRUCTION, "the instruction")
