# SPDX-License-Identifier: Apache-2.0
"""Joint limits from the URDF (plus config overrides) and the whole-trajectory safety check.

The URDF is the one source of position, velocity and effort limits; acceleration limits are not
part of URDF, so they come from config. :func:`parse_joint_limits` is a pure function of the URDF
text (like rqt_joint_trajectory_controller's ``joint_limits_urdf.parse_joint_limits``), so it is
unit-testable without ROS. :func:`check_trajectory` checks a whole trajectory at once and names the
first violation (joint, step, value, limit): a chunk is accepted or rejected whole, never clipped,
with one narrow exception, :func:`saturate_positions`: a target past a position bound by a sliver of
the joint's range (a policy's gripper "closed" sampled at -0.1 mm) is set to the bound, as
ros2_control's joint_limits saturate positions; anything further out is still rejected.
"""
from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cosmos_policy_ros.presets import JointUnits
from cosmos_policy_ros.settings import check_settings, setting

MOVABLE_JOINT_TYPES = ("revolute", "prismatic", "continuous")
# Finite-difference checks compare against limit * (1 + tolerance): exact-at-limit trajectories
# (e.g. planned at the velocity limit) must not be rejected by float rounding.
LIMIT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class JointLimits:
    """Limits of one joint (rad, rad/s, rad/s^2 for revolute; m, m/s, m/s^2 for prismatic).

    Args:
        lower, upper: position bounds (-inf/inf for continuous joints).
        velocity: largest speed magnitude (inf when the URDF gives none).
        acceleration: largest acceleration magnitude, None when unknown (then not checked).
        effort: largest effort (informational; the position interface does not command it).
    """

    lower: float
    upper: float
    velocity: float
    acceleration: float | None = None
    effort: float = math.inf

    def __post_init__(self) -> None:
        if math.isnan(self.lower) or math.isnan(self.upper) or self.lower > self.upper:
            raise ValueError(f"JointLimits lower={self.lower} upper={self.upper}: need lower <= upper")
        if not self.velocity > 0:
            raise ValueError(f"JointLimits velocity={self.velocity} must be > 0")
        if self.acceleration is not None and not self.acceleration > 0:
            raise ValueError(f"JointLimits acceleration={self.acceleration} must be > 0 or None")


def parse_joint_limits(urdf_xml: str, use_smallest_joint_limits: bool = True) -> dict[str, JointLimits]:
    """Limits of every movable, non-mimic joint in a URDF.

    Args:
        urdf_xml: the robot description (URDF XML text).
        use_smallest_joint_limits: narrow the bounds to ``<safety_controller soft_lower_limit
            soft_upper_limit>`` when present (as rqt_joint_trajectory_controller does).

    Returns:
        joint name -> JointLimits. Continuous joints get infinite bounds; a missing ``velocity``
        attribute gives an infinite velocity limit; acceleration is always None (see
        :func:`apply_limit_overrides`).
    """
    try:
        robot = ET.fromstring(urdf_xml)
    except ET.ParseError as err:
        raise ValueError(f"URDF is not valid XML: {err}") from err
    if robot.tag != "robot":
        raise ValueError(f"URDF root element is <{robot.tag}>, expected <robot>")
    limits: dict[str, JointLimits] = {}
    for joint in robot.iter("joint"):
        kind = joint.get("type", "")
        if kind not in MOVABLE_JOINT_TYPES or joint.find("mimic") is not None:
            continue
        limits[joint.get("name", "")] = _joint_limits(joint, kind, use_smallest_joint_limits)
    return limits


def _joint_limits(joint: ET.Element, kind: str, use_smallest: bool) -> JointLimits:
    name = joint.get("name", "")
    limit = joint.find("limit")
    if limit is None and kind != "continuous":
        raise ValueError(f"URDF joint {name!r} ({kind}) has no <limit> element")
    attrs = {} if limit is None else limit.attrib
    lower, upper = -math.inf, math.inf
    if kind != "continuous":
        lower, upper = float(attrs.get("lower", 0.0)), float(attrs.get("upper", 0.0))
        safety = joint.find("safety_controller")
        if use_smallest and safety is not None:
            lower = max(lower, float(safety.get("soft_lower_limit", lower)))
            upper = min(upper, float(safety.get("soft_upper_limit", upper)))
    velocity = float(attrs.get("velocity", math.inf)) or math.inf
    return JointLimits(lower=lower, upper=upper, velocity=velocity,
                       effort=float(attrs.get("effort", math.inf)))


def limits_in_policy_units(limits: Mapping[str, JointLimits],
                           units: Mapping[str, JointUnits]) -> dict[str, JointLimits]:
    """A robot description's limits of the joints with :class:`JointUnits` in the policy's units
    (the arbiter checks commands before the sinks convert them to the robot's units)."""
    out = dict(limits)
    for joint, unit in units.items():
        if joint in out:
            old = out[joint]
            lower, upper = unit.bounds_from_robot(old.lower, old.upper)
            out[joint] = dataclasses.replace(
                old, lower=lower, upper=upper, velocity=abs(unit.rate_from_robot(old.velocity)),
                acceleration=None if old.acceleration is None else abs(unit.rate_from_robot(old.acceleration)))
    return out


def apply_limit_overrides(limits: Mapping[str, JointLimits],
                          overrides: Mapping[str, Mapping[str, float]]) -> dict[str, JointLimits]:
    """Replace fields of some joints' limits with configured values.

    Args:
        limits: joint name -> limits (typically from :func:`parse_joint_limits`).
        overrides: joint name -> {field: value}, fields of JointLimits (``acceleration`` is
            the usual one, since URDF cannot say it). Unknown joints or fields raise.

    Returns:
        A new mapping; joints without overrides are unchanged.
    """
    fields = {f.name for f in dataclasses.fields(JointLimits)}
    out = dict(limits)
    for joint, values in overrides.items():
        if joint not in out:
            raise ValueError(f"limit override for unknown joint {joint!r}; known: {sorted(out)}")
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"limit override for {joint!r}: unknown field(s) {unknown}; known: {sorted(fields)}")
        out[joint] = dataclasses.replace(out[joint], **values)
    return out


@dataclass(frozen=True)
class LimitArrays:
    """Limits of an ordered joint vector, as arrays for vectorised checks (all shape (D,)).

    ``acceleration`` holds inf where no acceleration limit is known.
    """

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray

    @classmethod
    def from_limits(cls, limits: Mapping[str, JointLimits], joint_names: Sequence[str]) -> "LimitArrays":
        """Gather the limits of ``joint_names`` in order; every joint must have limits."""
        missing = [j for j in joint_names if j not in limits]
        if missing:
            raise ValueError(f"no limits for joint(s) {missing}; the limits source has {sorted(limits)}")
        rows = [limits[j] for j in joint_names]
        return cls(
            joint_names=tuple(joint_names),
            lower=np.array([r.lower for r in rows], dtype=np.float64),
            upper=np.array([r.upper for r in rows], dtype=np.float64),
            velocity=np.array([r.velocity for r in rows], dtype=np.float64),
            acceleration=np.array([math.inf if r.acceleration is None else r.acceleration for r in rows],
                                  dtype=np.float64),
        )

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def without_rate_limits(self, joints: Sequence[str]) -> "LimitArrays":
        """A copy in which ``joints`` keep their position bounds but have no velocity/acceleration limit.

        Used for grippers: their controller saturates its own speed, and policies command them as
        open/close steps that a per-step velocity check would always reject.
        """
        unknown = sorted(set(joints) - set(self.joint_names))
        if unknown:
            raise ValueError(f"without_rate_limits: unknown joint(s) {unknown}")
        cols = [self.joint_names.index(j) for j in joints]
        velocity, acceleration = self.velocity.copy(), self.acceleration.copy()
        velocity[cols] = math.inf
        acceleration[cols] = math.inf
        return dataclasses.replace(self, velocity=velocity, acceleration=acceleration)


@dataclass(frozen=True)
class LimitSettings:
    """What the URDF cannot say about a robot's limits (the command_arbiter's ``limits.*``).

    Args:
        acceleration: acceleration limits, one for every joint or one per preset joint; 0 = not
            checked (URDF has no acceleration limits).
        velocity_scale: fraction of the URDF velocity limits to allow.
        check_gripper_rates: also check gripper joints' velocity/acceleration (off: their
            controller saturates speed; positions are always checked).
    """

    acceleration: tuple[float, ...] = setting(
        (10.0,), "Acceleration limits (URDF has none) [rad/s^2 or m/s^2]: one value for every joint or one per "
        "preset joint; 0 = not checked.")
    velocity_scale: float = setting(1.0, "Fraction of the URDF velocity limits to allow.", min_value=0.01,
                                    max_value=1.0)
    check_gripper_rates: bool = setting(False, "Also check velocity/acceleration of gripper joints (off: their "
                                        "controller saturates speed; positions are always checked).")

    def __post_init__(self) -> None:
        if not self.acceleration or not all(math.isfinite(a) and a >= 0 for a in self.acceleration):
            raise ValueError(f"LimitSettings.acceleration={self.acceleration!r} needs finite values >= 0, one for "
                             f"every joint or one per joint")
        check_settings(self)

    def limit_arrays(self, urdf_xml: str, joints: Sequence[str], gripper_joints: Sequence[str] = (),
                     units: Mapping[str, JointUnits] | None = None) -> LimitArrays:
        """The URDF's limits of ``joints`` (in order, in the policy's ``units``) with these
        accelerations and velocity scale."""
        accel = self.acceleration
        if len(accel) not in (1, len(joints)):
            raise ValueError(f"limits.acceleration has {len(accel)} values; need 1 or {len(joints)}")
        per_joint = accel * len(joints) if len(accel) == 1 else accel
        urdf_limits = limits_in_policy_units(parse_joint_limits(urdf_xml), units or {})
        overrides = {j: {"acceleration": a if a > 0 else None,
                         "velocity": urdf_limits[j].velocity * self.velocity_scale}
                     for j, a in zip(joints, per_joint) if j in urdf_limits}
        limits = LimitArrays.from_limits(apply_limit_overrides(urdf_limits, overrides), joints)
        return limits if self.check_gripper_rates else limits.without_rate_limits(gripper_joints)


def saturate_positions(positions: np.ndarray, limits: LimitArrays, range_fraction: float) -> np.ndarray:
    """Copy of (n, D) ``positions`` where values past a bound by at most ``range_fraction`` of that
    joint's range (upper - lower) are set to the bound; values further out are kept, so that
    :func:`check_trajectory` rejects them. Joints without finite bounds are left as they are.

    Why: a diffusion policy samples a joint held at its bound (a closed gripper) with tiny overshoots;
    rejecting the whole chunk for them would stop the arm for nothing.
    """
    out = np.array(positions, dtype=np.float64)
    span = limits.upper - limits.lower
    slack = np.zeros_like(span)
    finite = np.isfinite(span)
    slack[finite] = range_fraction * span[finite]
    below = (out < limits.lower) & (out >= limits.lower - slack)
    above = (out > limits.upper) & (out <= limits.upper + slack)
    out = np.where(below, limits.lower, out)
    return np.where(above, limits.upper, out)


def check_trajectory(positions: np.ndarray, times_from_start_s: np.ndarray, limits: LimitArrays,
                     start_velocity: np.ndarray | None = None,
                     max_start_jump: float | None = None, start_bounds_tolerance: float = 0.0) -> str | None:
    """Check a whole trajectory against the limits; the first violation found is reported.

    Checks, in order: shapes; finite values; strictly increasing times; position bounds; the jump
    from point 0 to point 1 (``max_start_jump``); velocity of every segment; acceleration between
    consecutive segments (central difference) and from ``start_velocity`` to the first segment.

    Args:
        positions: (n, D) joint positions; row 0 is the state the trajectory starts from.
        times_from_start_s: (n,) times of the rows [s].
        limits: limits of the D joints in column order.
        start_velocity: (D,) joint velocity at row 0, or None to skip the start acceleration check.
        max_start_jump: largest |positions[1] - positions[0]| per joint, or None for no check.
        start_bounds_tolerance: row 0 (a measured state) may lie outside the bounds by this much
            (contact, calibration), so that a command moving back inside is accepted; every
            commanded row is held to the bounds.

    Returns:
        None when the trajectory is within limits, else a reason naming joint, step and value.
    """
    positions = np.asarray(positions, dtype=np.float64)
    times = np.asarray(times_from_start_s, dtype=np.float64)
    shape_reason = _check_shapes(positions, times, limits.num_joints)
    if shape_reason:
        return shape_reason
    names = limits.joint_names
    bad = np.argwhere(~np.isfinite(positions))
    if bad.size:
        step, col = bad[0]
        return f"non-finite position {positions[step, col]} for joint {names[col]} at step {step}"
    if not np.all(np.isfinite(times)):
        return f"non-finite time_from_start at step {int(np.argmax(~np.isfinite(times)))}"
    dt = np.diff(times)
    if dt.size and np.any(dt <= 0):
        step = int(np.argmax(dt <= 0)) + 1
        return f"time_from_start not increasing at step {step} ({times[step - 1]} -> {times[step]} s)"
    reason = (_check_positions(positions[:1], limits, LIMIT_TOLERANCE + start_bounds_tolerance)
              or _check_positions(positions[1:], limits, LIMIT_TOLERANCE, first_step=1))
    if reason or len(positions) < 2:
        return reason
    if max_start_jump is not None:
        jump = np.abs(positions[1] - positions[0])
        if np.any(jump > max_start_jump):
            col = int(np.argmax(jump))
            return (f"joint {names[col]} jumps {jump[col]:.4g} from the current state at step 1 "
                    f"(max {max_start_jump:.4g})")
    return _check_derivatives(positions, dt, limits, start_velocity)


def _check_shapes(positions: np.ndarray, times: np.ndarray, num_joints: int) -> str | None:
    if positions.ndim != 2 or positions.shape[1] != num_joints:
        return f"positions shape {positions.shape} does not match (n, {num_joints})"
    if positions.shape[0] == 0:
        return "trajectory has no points"
    if times.shape != (positions.shape[0],):
        return f"times_from_start shape {times.shape} does not match ({positions.shape[0]},)"
    return None


def bounds_excess(positions: np.ndarray, limits: LimitArrays) -> np.ndarray:
    """How far each value of ``positions`` (..., D) lies outside its joint's bounds (0 inside)."""
    positions = np.asarray(positions, dtype=np.float64)
    return np.maximum(np.maximum(limits.lower - positions, positions - limits.upper), 0.0)


def _check_positions(positions: np.ndarray, limits: LimitArrays, tolerance: float,
                     first_step: int = 0) -> str | None:
    outside = bounds_excess(positions, limits) > tolerance
    if not np.any(outside):
        return None
    step, col = np.argwhere(outside)[0]
    return (f"joint {limits.joint_names[col]} position {positions[step, col]:.6g} at step {step + first_step} outside "
            f"[{limits.lower[col]:.6g}, {limits.upper[col]:.6g}]")


def _check_derivatives(positions: np.ndarray, dt: np.ndarray, limits: LimitArrays,
                       start_velocity: np.ndarray | None) -> str | None:
    names = limits.joint_names
    velocity = np.diff(positions, axis=0) / dt[:, None]  # (n-1, D), segment k spans rows k..k+1
    too_fast = np.abs(velocity) > limits.velocity * (1 + LIMIT_TOLERANCE)
    if np.any(too_fast):
        seg, col = np.argwhere(too_fast)[0]
        return (f"joint {names[col]} velocity {velocity[seg, col]:.6g} between steps {seg} and {seg + 1} "
                f"exceeds {limits.velocity[col]:.6g}")
    # Segment velocities live at segment midpoints; consecutive midpoints are (dt_k + dt_k+1)/2 apart.
    accel = np.diff(velocity, axis=0) / (0.5 * (dt[:-1] + dt[1:]))[:, None]  # (n-2, D), at rows 1..n-2
    first_row = 1
    if start_velocity is not None:
        start = (velocity[0] - np.asarray(start_velocity, dtype=np.float64)) / (0.5 * dt[0])
        accel, first_row = np.vstack([start[None, :], accel]), 0
    too_hard = np.abs(accel) > limits.acceleration * (1 + LIMIT_TOLERANCE)
    if np.any(too_hard):
        row, col = np.argwhere(too_hard)[0]
        return (f"joint {names[col]} acceleration {accel[row, col]:.6g} at step {row + first_row} "
                f"exceeds {limits.acceleration[col]:.6g}")
    return None
