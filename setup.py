# SPDX-License-Identifier: Apache-2.0
"""ament_python package cosmos_policy_ros (also pip-installable)."""
from glob import glob
import re

from setuptools import find_packages, setup

PACKAGE = "cosmos_policy_ros"


def _version() -> str:
    """The one version source is package.xml (a test checks nothing else drifts)."""
    with open("package.xml", encoding="utf-8") as f:
        return re.search(r"<version>([^<]+)</version>", f.read()).group(1)


setup(
    name=PACKAGE,
    version=_version(),
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        # sim_demo's defaults: the demo model, the scene and preset it was trained with.
        (f"share/{PACKAGE}/config/demo", glob("config/demo/*")),
        (f"share/{PACKAGE}/config/train", glob("config/train/*")),
        (f"share/{PACKAGE}/checkpoints/demo_reach", glob("checkpoints/demo_reach/*")),
        (f"share/{PACKAGE}/urdf", glob("urdf/*")),
    ],
    python_requires=">=3.10",
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="cosmos_policy_ros maintainers",
    maintainer_email="maintainers@cosmos-policy-ros.dev",
    description="Cosmos Policy on ROS 2 robot arms.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "cosmos-policy = cosmos_policy_ros.cli:main",
            "policy_node = cosmos_policy_ros.ros.policy_node:main",
            "command_arbiter = cosmos_policy_ros.ros.command_arbiter:main",
            "recorder_node = cosmos_policy_ros.ros.recorder_node:main",
            "sim_arm_node = cosmos_policy_ros.sim.sim_arm_node:main",
            "expert_teleop_node = cosmos_policy_ros.sim.expert_teleop_node:main",
        ],
    },
)
