# SPDX-License-Identifier: Apache-2.0
"""Both packages build with colcon in the set-up environment, as a lab's workspace would build them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_colcon_builds_both_packages_and_installs_share_files(tmp_path: Path) -> None:
    colcon = shutil.which("colcon")
    if colcon is None:
        pytest.fail("colcon is missing from the set-up environment (scripts/setup.sh installs it)")
    # A copy of the tracked tree, so the build never writes into the checkout.
    source = tmp_path / "src" / "cosmos_policy_ros"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, check=True, capture_output=True, text=True).stdout
    for rel in files.split():
        if (REPO / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, source / rel)
    env = dict(os.environ)
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    env.setdefault("CMAKE_PREFIX_PATH", sys.prefix)
    result = subprocess.run(
        [colcon, "build", "--base-paths", str(source), str(source / "cosmos_policy_msgs"), "--merge-install",
         "--cmake-args", "-DBUILD_TESTING=OFF"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 packages finished" in result.stdout
    install = tmp_path / "install"
    for executable in ("policy_node", "command_arbiter", "recorder_node", "sim_arm_node", "expert_teleop_node",
                       "cosmos-policy"):
        assert (install / "lib" / "cosmos_policy_ros" / executable).exists(), executable
    share = install / "share" / "cosmos_policy_ros"
    for rel in ("package.xml", "launch/bringup.launch.py", "launch/sim_demo.launch.py", "launch/record.launch.py",
                "config/robots/sim_arm.yaml", "config/command_arbiter.yaml", "urdf/sim_arm.urdf"):
        assert (share / rel).exists(), rel
    assert list((install / "share" / "cosmos_policy_msgs" / "msg").glob("ActionChunk.*"))
