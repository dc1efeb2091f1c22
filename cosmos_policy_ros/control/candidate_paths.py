# SPDX-License-Identifier: Apache-2.0
"""End-effector paths of candidate action chunks, by forward kinematics of the robot description.

ROS-free. The chain runs from the URDF's root link to the tip link (by default the child of the
robot preset's last arm joint, followed through fixed joints to a tool frame such as ``tool_link``);
ikpy (a maintained URDF kinematics library) evaluates it. Joint-position chunks only: each
step's arm joints go through the chain, the gripper joints are ignored.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ikpy.chain import Chain

FIXED = "fixed"


@dataclass(frozen=True)
class UrdfJoint:
    name: str
    type: str
    parent: str
    child: str


def read_joints(urdf_text: str) -> list[UrdfJoint]:
    root = ElementTree.fromstring(urdf_text)
    return [UrdfJoint(j.get("name"), j.get("type"), j.find("parent").get("link"), j.find("child").get("link"))
            for j in root.iter("joint")]


def default_tip(joints: Sequence[UrdfJoint], arm_joints: Sequence[str]) -> str:
    """The child link of the last arm joint, followed down single fixed joints (a tool frame)."""
    by_name = {j.name: j for j in joints}
    missing = [name for name in arm_joints if name not in by_name]
    if missing:
        raise ValueError(f"joints {missing} are not in the robot description")
    tip = by_name[arm_joints[-1]].child
    while True:
        fixed = [j for j in joints if j.parent == tip and j.type == FIXED]
        if len(fixed) != 1:
            return tip
        tip = fixed[0].child


def chain_elements(joints: Sequence[UrdfJoint], tip: str) -> list[str]:
    """Alternating link / joint names from the root link down to ``tip`` (ikpy's base_elements)."""
    by_child = {j.child: j for j in joints}
    if tip not in by_child:
        raise ValueError(f"link {tip!r} is not the child of any joint in the robot description")
    elements = [tip]
    while tip in by_child:
        joint = by_child[tip]
        elements[:0] = [joint.parent, joint.name]
        tip = joint.parent
    return elements


class EndEffectorPaths:
    """Forward kinematics of joint-position chunks to tip positions in the URDF's root frame.

    Args:
        urdf_path: the robot description.
        joint_names: the action columns (a robot preset's joints, model order).
        arm_joints: the preset's joints without its grippers (the default tip follows the last).
        tip_link: the end-effector link; empty = ``default_tip``.
    """

    def __init__(self, urdf_path: str | Path, joint_names: Sequence[str], arm_joints: Sequence[str],
                 tip_link: str = "") -> None:
        joints = read_joints(Path(urdf_path).read_text(encoding="utf-8"))
        elements = chain_elements(joints, tip_link or default_tip(joints, arm_joints))
        chain_joints = elements[1::2]
        by_name = {j.name: j for j in joints}
        mask = [False] + [by_name[name].type != FIXED for name in chain_joints]  # ikpy's origin link first
        self.chain = Chain.from_urdf_file(str(urdf_path), base_elements=elements, active_links_mask=mask)
        self.root_link, self.tip_link = elements[0], elements[-1]
        unknown = [name for name, active in zip(chain_joints, mask[1:]) if active and name not in joint_names]
        if unknown:
            raise ValueError(f"chain joints {unknown} are not action columns {list(joint_names)}")
        self._columns = [(i + 1, list(joint_names).index(name)) for i, (name, active)
                         in enumerate(zip(chain_joints, mask[1:])) if active]

    def positions(self, chunks: np.ndarray) -> np.ndarray:
        """(n, K, D) joint positions -> (n, K, 3) tip positions [m] in the root link's frame."""
        chunks = np.asarray(chunks, dtype=np.float64)
        out = np.empty((*chunks.shape[:2], 3))
        q = np.zeros(len(self.chain.links))
        for c in range(chunks.shape[0]):
            for k in range(chunks.shape[1]):
                for link, column in self._columns:
                    q[link] = chunks[c, k, column]
                out[c, k] = self.chain.forward_kinematics(q)[:3, 3]
        return out
