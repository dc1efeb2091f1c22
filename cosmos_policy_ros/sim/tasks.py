# SPDX-License-Identifier: Apache-2.0
"""Table-top tasks on the sim_arm: seeded randomized resets, success checks, time limits.

ROS-free. Every task uses the same scene (three coloured blocks and a bin) so a policy sees one
world; the seed decides where everything is and which block is the target. ``reach``: touch the
target block with the gripper. ``pick_place``: put the target block into the bin and let go.
``twin``: two red-looking blocks (the scene paints the green one red, ``SceneFile.block_paint``),
one near the arm's start and one far; touching either counts, but the demo's short time limit
leaves time only for the near one (the task a plain policy trained on "either twin" demos solves
half the time, and plan-and-select can solve by imagining where each candidate goes).
Same seed -> same scene, bit for bit.
"""
from __future__ import annotations

import difflib
import enum
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS, ArmSim, Pose
from cosmos_policy_ros.sim.scene import BIN_BODY, BLOCK_COLOURS, SceneFile, block_body, check_block_colours


class Outcome(enum.Enum):
    """State of an episode after a control step."""

    RUNNING = "running"
    SUCCESS = "success"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class TaskConfig:
    """Where things may be placed and how long an episode may last.

    Args:
        block_x_m: (min, max) x range of block centres (arm base at the origin, x forward).
        block_y_m: (min, max) y range of block centres.
        bin_x_m: (min, max) x range of the bin centre.
        bin_abs_y_m: (min, max) |y| of the bin centre (the side is random).
        block_separation_m: minimum distance between block centres (room for the open fingers).
        bin_clearance_m: minimum distance from a block centre to the bin's outer edge.
        max_block_yaw_rad: blocks are rotated by a random yaw in [-max, max].
        reach_time_limit_s: episode limit of ``reach``.
        pick_place_time_limit_s: episode limit of ``pick_place``.
        target_colours: the colours a seed may name as the target block (a scene file's
            ``target_colours``, ``for_scene``).
        twin_near_x_m / twin_near_abs_y_m: ranges of the near twin (under the tool's home position,
            x 0.31 m, y 0).
        twin_far_x_m / twin_far_abs_y_m: ranges of the far twin (a front corner of the table; the
            bin goes to the other side).
        twin_time_limit_s: episode limit of ``twin`` (long enough for either twin: the demo's
            shorter limit is what makes the far one a failure).
    """

    block_x_m: tuple[float, float] = (0.26, 0.45)
    block_y_m: tuple[float, float] = (-0.2, 0.2)
    bin_x_m: tuple[float, float] = (0.28, 0.38)
    bin_abs_y_m: tuple[float, float] = (0.2, 0.26)
    block_separation_m: float = 0.1
    bin_clearance_m: float = 0.075
    max_block_yaw_rad: float = 0.6
    reach_time_limit_s: float = 10.0
    pick_place_time_limit_s: float = 20.0
    target_colours: tuple[str, ...] = tuple(BLOCK_COLOURS)
    twin_near_x_m: tuple[float, float] = (0.27, 0.34)
    twin_near_abs_y_m: tuple[float, float] = (0.0, 0.05)
    twin_far_x_m: tuple[float, float] = (0.40, 0.46)
    twin_far_abs_y_m: tuple[float, float] = (0.15, 0.21)
    twin_time_limit_s: float = 10.0

    @classmethod
    def for_scene(cls, scene_file: str | Path = "") -> "TaskConfig":
        """The default placement and limits, targets as the scene YAML names them (if it does)."""
        scene = SceneFile.from_yaml(scene_file) if scene_file else SceneFile()
        return cls(target_colours=scene.target_colours or tuple(BLOCK_COLOURS))

    def __post_init__(self) -> None:
        if not self.target_colours:
            raise ValueError("TaskConfig.target_colours is empty; name at least one block colour")
        check_block_colours("TaskConfig.target_colours", self.target_colours)
        for name in ("block_x_m", "block_y_m", "bin_x_m", "bin_abs_y_m", "twin_near_x_m", "twin_near_abs_y_m",
                     "twin_far_x_m", "twin_far_abs_y_m"):
            low, high = getattr(self, name)
            if not low < high:
                raise ValueError(f"TaskConfig.{name}={(low, high)} must be an increasing range")
        limits = (self.reach_time_limit_s, self.pick_place_time_limit_s, self.twin_time_limit_s)
        if min(limits) <= 0:
            raise ValueError(f"TaskConfig time limits must be > 0, got {limits}")


@dataclass(frozen=True)
class Episode:
    """One reset: what to do and where everything started.

    Args:
        task: task name.
        seed: the seed the scene was drawn from.
        instruction: natural-language instruction for the policy.
        target_colour: colour of the block the task is about.
        time_limit_s: sim time after which the episode fails.
        initial_poses: body name -> pose at reset.
    """

    task: str
    seed: int
    instruction: str
    target_colour: str
    time_limit_s: float
    initial_poses: dict[str, Pose]

    @property
    def target_block(self) -> str:
        return block_body(self.target_colour)

    @property
    def object_order(self) -> tuple[str, ...]:
        """Bodies of ``sim/object_poses``, in order: target block, bin, then the other blocks."""
        others = tuple(block_body(c) for c in BLOCK_COLOURS if c != self.target_colour)
        return (self.target_block, BIN_BODY) + others


class Task:
    """Base of the table-top tasks: shared scene sampling, time limit and outcome."""

    name = ""
    instruction_template = ""
    expert_plan = "reach"  # the scripted expert's waypoints: "reach" (touch) or "pick_place"

    def __init__(self, config: TaskConfig = TaskConfig()) -> None:
        self.config = config

    @property
    def time_limit_s(self) -> float:
        raise NotImplementedError

    def reset(self, sim: ArmSim, seed: int, target: str = "") -> Episode:
        """Reset ``sim`` to a random scene drawn from ``seed`` with the arm at home; the seed names
        one of ``config.target_colours`` as the target, unless ``target`` (any block colour)
        replaces it in the same scene.

        Raises:
            ValueError: ``target`` is not a block colour.
        """
        if target and target not in BLOCK_COLOURS:
            raise ValueError(f"target={target!r} is not a block colour; have {list(BLOCK_COLOURS)}")
        rng = np.random.default_rng(seed)
        poses = sample_scene(rng, self.config, sim.config.block_half_size_m, sim.config.bin_half_size_m)
        colours = self.config.target_colours
        colour = target or colours[int(rng.integers(len(colours)))]
        sim.reset(HOME_POSITIONS, poses)
        return Episode(self.name, seed, self.instruction_template.format(colour=colour), colour,
                       self.time_limit_s, poses)

    def is_success(self, sim: ArmSim, episode: Episode) -> bool:
        """Whether the task is solved in the current state."""
        raise NotImplementedError

    def evaluate(self, sim: ArmSim, episode: Episode) -> Outcome:
        """SUCCESS when solved, TIMEOUT past the time limit, otherwise RUNNING."""
        if self.is_success(sim, episode):
            return Outcome.SUCCESS
        return Outcome.TIMEOUT if sim.time_s >= episode.time_limit_s else Outcome.RUNNING


class ReachTask(Task):
    """Touch the target block with the hand or a finger."""

    name = "reach"
    instruction_template = "touch the {colour} block"

    @property
    def time_limit_s(self) -> float:
        return self.config.reach_time_limit_s

    def is_success(self, sim: ArmSim, episode: Episode) -> bool:
        return sim.gripper_touches(episode.target_block)


class PickPlaceTask(Task):
    """Put the target block into the bin and release it."""

    name = "pick_place"
    instruction_template = "put the {colour} block in the bin"
    expert_plan = "pick_place"

    @property
    def time_limit_s(self) -> float:
        return self.config.pick_place_time_limit_s

    def is_success(self, sim: ArmSim, episode: Episode) -> bool:
        block = sim.body_pose(episode.target_block).position
        bin_pose = sim.bin_pose()
        offset = bin_pose.rotation.T @ (block - bin_pose.position)  # block in the bin's frame
        inside = (np.all(np.abs(offset[:2]) < sim.config.bin_half_size_m)
                  and offset[2] < sim.config.bin_wall_height_m)
        return bool(inside) and not sim.gripper_touches(episode.target_block)


TWIN_COLOURS = ("red", "green")  # the twins' bodies; a twin scene draws green in red (block_paint)
TWIN_SIDES = ("near", "far")  # a twin target by where it stands (its body colour is the scene's draw)


class TwinReachTask(Task):
    """Touch either of two red-looking blocks: one near the arm's start, one far.

    The seed draws the layout, which body is the near twin, and which twin the scripted expert
    goes to (either, at random: its demos teach a two-mode policy). The instruction names red;
    both twins look red in a scene with ``block_paint: {green: red}`` (``reset`` checks it).
    """

    name = "twin"
    instruction_template = "touch the {colour} block"

    @property
    def time_limit_s(self) -> float:
        return self.config.twin_time_limit_s

    def reset(self, sim: ArmSim, seed: int, target: str = "") -> Episode:
        """Reset to the twin scene of ``seed``; ``target`` (a twin's body colour, or ``near`` /
        ``far``) replaces the expert's random choice of twin.

        Raises:
            ValueError: ``target`` is not a twin, or the scene does not draw both twins red.
        """
        if target and target not in TWIN_COLOURS + TWIN_SIDES:
            raise ValueError(f"twin target={target!r} must be one of {list(TWIN_COLOURS + TWIN_SIDES)}")
        if sim.config.block_paint.get(TWIN_COLOURS[1]) != TWIN_COLOURS[0]:
            raise ValueError(f"task twin needs a scene with block_paint: {{{TWIN_COLOURS[1]}: {TWIN_COLOURS[0]}}} "
                             f"(e.g. config/demo/scene_twin.yaml); the scene paints {sim.config.block_paint}")
        rng = np.random.default_rng(seed)
        poses, near_colour = sample_twin_scene(rng, self.config, sim.config.block_half_size_m,
                                               sim.config.bin_half_size_m)
        colour = target or TWIN_COLOURS[int(rng.integers(len(TWIN_COLOURS)))]
        if colour in TWIN_SIDES:
            colour = near_colour if colour == "near" else next(c for c in TWIN_COLOURS if c != near_colour)
        sim.reset(HOME_POSITIONS, poses)
        return Episode(self.name, seed, self.instruction_template.format(colour=TWIN_COLOURS[0]), colour,
                       self.time_limit_s, poses)

    def is_success(self, sim: ArmSim, episode: Episode) -> bool:
        return any(sim.gripper_touches(block_body(colour)) for colour in TWIN_COLOURS)


TASKS: dict[str, type[Task]] = {ReachTask.name: ReachTask, PickPlaceTask.name: PickPlaceTask,
                                TwinReachTask.name: TwinReachTask}


def make_task(name: str, config: TaskConfig = TaskConfig()) -> Task:
    """The task called ``name``; unknown names get a close-match hint."""
    if name not in TASKS:
        hint = difflib.get_close_matches(name, TASKS, n=1)
        raise ValueError(f"unknown task {name!r}; available: {sorted(TASKS)}"
                         + (f"; did you mean {hint[0]!r}?" if hint else ""))
    return TASKS[name](config)


def sample_scene(rng: np.random.Generator, config: TaskConfig, block_half_size_m: float,
                 bin_half_size_m: float) -> dict[str, Pose]:
    """Bin and block poses: blocks apart from each other and clear of the bin (rejection sampling)."""
    bin_xy = np.array([rng.uniform(*config.bin_x_m),
                       rng.choice([-1.0, 1.0]) * rng.uniform(*config.bin_abs_y_m)])
    poses = {BIN_BODY: Pose(np.array([*bin_xy, 0.0]), np.array([1.0, 0.0, 0.0, 0.0]))}
    bin_reach_m = bin_half_size_m + config.bin_clearance_m
    placed: list[np.ndarray] = []
    for colour in BLOCK_COLOURS:
        while True:
            xy = np.array([rng.uniform(*config.block_x_m), rng.uniform(*config.block_y_m)])
            clear_of_bin = np.max(np.abs(xy - bin_xy)) > bin_reach_m
            apart = all(np.linalg.norm(xy - other) >= config.block_separation_m for other in placed)
            if clear_of_bin and apart:
                break
        placed.append(xy)
        poses[block_body(colour)] = _block_pose(rng, xy, block_half_size_m, config.max_block_yaw_rad)
    return poses


def _block_pose(rng: np.random.Generator, xy: np.ndarray, block_half_size_m: float, max_yaw_rad: float) -> Pose:
    """A block standing on the table at ``xy`` with a random yaw in [-max, max]."""
    yaw = rng.uniform(-max_yaw_rad, max_yaw_rad)
    return Pose(np.array([*xy, block_half_size_m]), np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]))


def sample_twin_scene(rng: np.random.Generator, config: TaskConfig, block_half_size_m: float,
                      bin_half_size_m: float) -> tuple[dict[str, Pose], str]:
    """Twin layout: near twin under the tool's home, far twin at a front corner (random side), the
    bin on the other side, the third block anywhere clear of them (rejection sampling). Returns the
    poses and the near twin's body colour."""
    far_side = float(rng.choice([-1.0, 1.0]))
    near_xy = np.array([rng.uniform(*config.twin_near_x_m), rng.uniform(-1, 1) * config.twin_near_abs_y_m[1]])
    far_xy = np.array([rng.uniform(*config.twin_far_x_m), far_side * rng.uniform(*config.twin_far_abs_y_m)])
    near_colour = TWIN_COLOURS[int(rng.integers(2))]
    far_colour = TWIN_COLOURS[1] if near_colour == TWIN_COLOURS[0] else TWIN_COLOURS[0]
    bin_xy = np.array([rng.uniform(*config.bin_x_m), -far_side * rng.uniform(*config.bin_abs_y_m)])
    bin_reach_m = bin_half_size_m + config.bin_clearance_m
    placed = {near_colour: near_xy, far_colour: far_xy}
    for colour in BLOCK_COLOURS:
        while colour not in placed:
            xy = np.array([rng.uniform(*config.block_x_m), rng.uniform(*config.block_y_m)])
            clear_of_bin = np.max(np.abs(xy - bin_xy)) > bin_reach_m
            apart = all(np.linalg.norm(xy - other) >= config.block_separation_m for other in placed.values())
            if clear_of_bin and apart:
                placed[colour] = xy
    poses = {BIN_BODY: Pose(np.array([*bin_xy, 0.0]), np.array([1.0, 0.0, 0.0, 0.0]))}
    for colour in BLOCK_COLOURS:
        poses[block_body(colour)] = _block_pose(rng, placed[colour], block_half_size_m, config.max_block_yaw_rad)
    return poses, near_colour
