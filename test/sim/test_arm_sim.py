# SPDX-License-Identifier: Apache-2.0
"""ArmSim: the URDF limits reach MuJoCo, the arm tracks trajectories, cameras are real renders."""
from __future__ import annotations

import numpy as np
import pytest

from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS, ArmSim, Pose
from cosmos_policy_ros.sim.scene import BLOCK_COLOURS, COMMANDED_JOINTS, block_body
from cosmos_policy_ros.sim.tasks import TaskConfig, make_task
from cosmos_policy_ros.sim.trajectory_follower import TrajectoryCommand

pytestmark = pytest.mark.sim
# Tracking tolerance of the PD drives with velocity feed-forward [rad].
TRACKING_TOLERANCE_RAD = 0.01


@pytest.fixture(scope="module")
def sim():
    arm = ArmSim()
    yield arm
    arm.close()


def test_joint_limits_come_from_the_urdf(sim):
    elbow = sim.model.joint("elbow_joint")
    np.testing.assert_allclose(sim.model.jnt_range[elbow.id], [-2.6, 2.6])
    np.testing.assert_allclose(sim.model.jnt_actfrcrange[elbow.id], [-40.0, 40.0])
    assert sim.joint_names == COMMANDED_JOINTS
    # The mimic finger follows the commanded gripper joint.
    assert sim.model.neq == 1


def test_arm_tracks_a_trajectory_and_holds_the_last_point(sim):
    sim.reset()
    goal = HOME_POSITIONS + np.array([0.4, 0.2, -0.3, 0.2, 0.3, 0.5, -0.03])
    points = np.stack([HOME_POSITIONS + 0.5 * (goal - HOME_POSITIONS), goal])
    assert sim.command(TrajectoryCommand(sim.joint_names, np.array([0.5, 1.0]), points)).accepted
    for _ in range(10):
        sim.step(0.1)
        reference = sim.follower.sample(sim.time_s).positions
        assert np.abs(sim.joint_positions() - reference).max() < TRACKING_TOLERANCE_RAD
    sim.step(0.5)
    np.testing.assert_allclose(sim.joint_positions(), goal, atol=TRACKING_TOLERANCE_RAD)


def test_reset_with_a_target_keeps_the_seed_scene(sim):
    task = make_task("reach")
    drawn = task.reset(sim, seed=7)
    for colour in BLOCK_COLOURS:
        episode = task.reset(sim, seed=7, target=colour)
        assert episode.target_block == block_body(colour) and colour in episode.instruction
        for body, pose in drawn.initial_poses.items():
            np.testing.assert_array_equal(episode.initial_poses[body].position, pose.position)
    with pytest.raises(ValueError, match="not a block colour"):
        task.reset(sim, seed=7, target="pink")


def test_seeds_name_only_the_configured_target_colours_in_the_same_scenes(sim, tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text("target_colours: [green]\n")
    every, green = make_task("reach"), make_task("reach", TaskConfig.for_scene(scene))
    assert TaskConfig.for_scene("").target_colours == tuple(BLOCK_COLOURS)
    drawn = [every.reset(sim, seed) for seed in range(12)]
    assert len({e.target_colour for e in drawn}) > 1
    for seed, episode in enumerate(drawn):
        named = green.reset(sim, seed)
        assert (named.target_colour, named.instruction) == ("green", "touch the green block")
        for body, pose in episode.initial_poses.items():  # the blocks stay where the seed put them
            np.testing.assert_array_equal(named.initial_poses[body].position, pose.position)
    assert green.reset(sim, 0, target="red").target_colour == "red"  # an explicit target still wins
    with pytest.raises(ValueError, match="target_colours is empty"):
        TaskConfig(target_colours=())


def test_reset_is_deterministic(sim):
    task = make_task("pick_place")
    first = task.reset(sim, seed=7)
    sim.step(0.3)
    state_a = sim.data.qpos.copy()
    second = task.reset(sim, seed=7)
    sim.step(0.3)
    np.testing.assert_array_equal(sim.data.qpos, state_a)
    assert first.instruction == second.instruction
    other = task.reset(sim, seed=8)
    assert not np.allclose(other.initial_poses[first.target_block].position,
                           first.initial_poses[first.target_block].position)


def _project(sim: ArmSim, camera: str, point: np.ndarray) -> tuple[int, int]:
    """Pixel (row, col) of a world point in ``camera`` (pinhole, MuJoCo looks along -z)."""
    spec = next(c for c in sim.config.cameras if c.name == camera)
    cam = sim.data.camera(camera)
    in_camera = cam.xmat.reshape(3, 3).T @ (point - cam.xpos)
    focal_px = 0.5 * spec.height / np.tan(np.deg2rad(spec.fovy_deg) / 2)
    col = spec.width / 2 + focal_px * in_camera[0] / -in_camera[2]
    row = spec.height / 2 - focal_px * in_camera[1] / -in_camera[2]
    return int(round(row)), int(round(col))


@pytest.mark.parametrize("camera", ["primary", "wrist"])
def test_block_colour_appears_where_the_block_projects(sim, camera):
    sim.reset()
    half = sim.config.block_half_size_m
    # Put the red block right under the hand (in both views), the others out of the way.
    red_xy = sim.tool_pose().position[:2]
    sim.set_body_pose(block_body("red"), Pose(np.array([*red_xy, half]), np.array([1.0, 0, 0, 0])))
    for i, colour in enumerate(c for c in BLOCK_COLOURS if c != "red"):
        elsewhere = Pose(np.array([0.3, -0.2 + 0.4 * i, half]), np.array([1.0, 0, 0, 0]))
        sim.set_body_pose(block_body(colour), elsewhere)
    sim.step(0.05)
    top_centre = sim.body_pose(block_body("red")).position + [0.0, 0.0, half]
    row, col = _project(sim, camera, top_centre)
    image = sim.render(camera)
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    red, green, blue = image[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3).astype(int).mean(axis=0)
    assert red > green + 60 and red > blue + 60, (camera, row, col, red, green, blue)
    # Move the block away: the same pixel is no longer red.
    sim.set_body_pose(block_body("red"), Pose(np.array([0.45, 0.15, half]), np.array([1.0, 0, 0, 0])))
    sim.step(0.05)
    red, green, blue = sim.render(camera)[row, col].astype(int)
    assert not (red > green + 60 and red > blue + 60)


@pytest.mark.parametrize("force_n", [80.0, 500.0, -500.0])
def test_fingers_respect_their_range_under_contact_force(sim, force_n):
    """Issue 24: contact force on the fingers (here applied directly, beyond the gripper's 40 N
    effort) does not push them past their 0-0.04 m range by more than half a millimetre, as a real
    hand's mechanical stops; the arbiter's sensor tolerance (1 cm) is far above that."""
    sim.reset()
    dofs = [sim.model.jnt_dofadr[sim.model.joint(n).id] for n in ("gripper_joint", "right_finger_joint")]
    try:
        sim.data.qfrc_applied[dofs] = force_n
        sim.step(1.0)
        fingers = [sim.data.qpos[sim.model.joint(n).qposadr[0]] for n in ("gripper_joint", "right_finger_joint")]
    finally:
        sim.data.qfrc_applied[dofs] = 0.0
    assert all(-0.0005 <= f <= 0.0405 for f in fingers), fingers
