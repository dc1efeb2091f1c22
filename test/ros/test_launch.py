# SPDX-License-Identifier: Apache-2.0
"""``ros2 launch`` of each shipped launch file, with the real launch/ros2cli from CI's kit.

The launch file and ``cosmos-policy up`` are both built from ``ros/graph.py``
(test_graph.py checks the description); here the real ``ros2 launch`` starts the nodes and the
real ``ros2`` verbs see them: the graph's node names under the namespace, a launch argument that
reached a parameter, policy_node as an unconfigured lifecycle node, and a clean SIGINT stop.
Skips with the reason where the kit is absent (test/ros2_kit.py).
"""
from __future__ import annotations

import pytest
from ros_helpers import wait_for

from cosmos_policy_ros.ros.graph import PACKAGE, SCENARIOS, GraphArgs, build_graph

pytestmark = pytest.mark.ros

NAMESPACE = "lab"
# launch escalates to SIGTERM this long after SIGINT (its default: 5 s). A node importing torch and
# diffusers spends 2-5 s in interpreter exit alone on this loaded 2-core machine (measured:
# import + os._exit 8.4 s vs import + normal exit 16.7 s), after its clean shutdown; 5 s raced it.
SIGTERM_TIMEOUT_S = 30
PRESET = "sim_arm"  # fr3/ur/aloha: test_robot_stacks.py, against a stand-in of their stacks


def listed_nodes(ros2_kit) -> set[str]:
    return set(ros2_kit.ros2("node", "list").stdout.split())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_ros2_launch_starts_the_graph_of_up(ros2_kit, scenario, tmp_path):
    expected = {f"/{NAMESPACE}/{n.name}" for n in build_graph(scenario, GraphArgs(robot=PRESET,
                                                                                  namespace=NAMESPACE)).nodes}
    # cwd: the recorder's relative output_dir lands in tmp_path.
    launch = ros2_kit.launch(PACKAGE, f"{scenario}.launch.py", f"robot:={PRESET}", "autostart:=false",
                             f"namespace:={NAMESPACE}", f"sigterm_timeout:={SIGTERM_TIMEOUT_S}", cwd=tmp_path)
    seen: set[str] = set()

    def all_nodes_up() -> bool:
        assert launch.poll() is None, f"ros2 launch exited {launch.returncode}"
        seen.clear()
        seen.update(listed_nodes(ros2_kit))
        return seen == expected

    try:
        wait_for(all_nodes_up, f"ros2 node list to show {sorted(expected)}", timeout_s=120.0)
        robot = ros2_kit.ros2_until_ok("param", "get", f"/{NAMESPACE}/command_arbiter", "robot").stdout
        assert robot.strip() == f"String value is: {PRESET}"
        state = ros2_kit.ros2_until_ok("lifecycle", "get", f"/{NAMESPACE}/policy_node").stdout
        assert state.strip() == "unconfigured [1]"
    finally:
        code, output = ros2_kit.stop_launch(launch)
        print(f"last ros2 node list: {sorted(seen)}\n{output}")  # pytest shows it when the test fails
    assert code == 0, output[-4000:]
    assert output.count("process has finished cleanly") == len(expected), output[-4000:]
