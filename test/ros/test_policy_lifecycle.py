# SPDX-License-Identifier: Apache-2.0
"""policy_node's lifecycle over real DDS, driven through ``~/change_state`` like a lifecycle manager.

The node runs as a subprocess (random-weight tiny model, no autostart); this process publishes the
preset's sensors (two cameras + joint states, stamped now) and listens to the chunks, plans and
status. Checked: chunks flow only while ACTIVE; configure loads the model (status names it) and
cleanup frees it (status names none); a configure after cleanup works again; the run-time
``value_threshold`` sets ``call_for_teleop`` on chunks and plans.

"Nothing is published while not active" is judged on events, not on a sleep: the window lasts
until the node itself has republished its status ``QUIET_STATUS_TICKS`` times (its own timer, so a
starved node stretches the window instead of shortening it) while this process kept publishing
sensors; a chunk counts against the node only if its sequence number was not yet used when the
transition's status came (a chunk still in flight from before is not a violation).
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="policy_node lifecycle tests need rclpy")

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402

from cosmos_policy_msgs.msg import ActionChunk, PlanCandidates, PolicyStatus  # noqa: E402
from cosmos_policy_ros.presets import load_preset  # noqa: E402
from cosmos_policy_ros.ros.conversions import numpy_to_image  # noqa: E402
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS  # noqa: E402
from cosmos_policy_ros.sim.arm_sim import HOME_POSITIONS  # noqa: E402

from ros_helpers import SpinningNode, end_processes, start_node_process, stop_process, wait_for  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PRESET = load_preset("sim_arm")
SENSOR_PERIOD_S = 0.1
STATUS_PERIOD_S = 0.25  # the node's periodic status: the quiet window's clock
QUIET_STATUS_TICKS = 6  # >= 1.25 s of the node's own time: several inferences of the tiny model
QUIET_SENSOR_SETS = 10  # sensor sets published inside the window (an active node would have had inputs)
START_TIMEOUT_S = 90.0  # torch/diffusers import + model build + warm-up on a shared CPU
NODE = "/policy_node"


class PolicyLifecycleHarness:
    """policy_node subprocess + in-process sensors, listeners and lifecycle/parameter clients."""

    def __init__(self, env: dict) -> None:
        self.proc = start_node_process("cosmos_policy_ros.ros.policy_node", env, {
            "allow_random_init": "true", "instruction": "'reach the block'",
            "random_init.action_center": str(HOME_POSITIONS.tolist()), "observation.max_age_s": 2.0,
            "status_period_s": STATUS_PERIOD_S})
        self.spinner = SpinningNode("policy_lifecycle_harness")
        node = self.spinner.node
        self.chunks: list[ActionChunk] = []
        self.plans: list[PlanCandidates] = []
        self.statuses: list[PolicyStatus] = []
        node.create_subscription(ActionChunk, f"{NODE}/action_chunk", self.chunks.append, COMMAND_QOS)
        node.create_subscription(PlanCandidates, f"{NODE}/plan_candidates", self.plans.append, 10)
        node.create_subscription(PolicyStatus, f"{NODE}/status", self.statuses.append, LATCHED_QOS)
        self.change_state = node.create_client(ChangeState, f"{NODE}/change_state")
        self.get_state = node.create_client(GetState, f"{NODE}/get_state")
        self.set_parameters = node.create_client(SetParameters, f"{NODE}/set_parameters")
        self._joint_pub = node.create_publisher(JointState, PRESET.joint_states_topic, SENSOR_QOS)
        self._image_pubs = [node.create_publisher(Image, camera.topic, SENSOR_QOS) for camera in PRESET.cameras]
        self._images = [np.full((c.height, c.width, 3), 90 + 40 * i, np.uint8) for i, c in enumerate(PRESET.cameras)]
        self.sensor_sets = 0
        node.create_timer(SENSOR_PERIOD_S, self._publish_sensors)

    def _publish_sensors(self) -> None:
        stamp = self.spinner.node.get_clock().now().to_msg()
        joints = JointState(name=list(PRESET.joints), position=HOME_POSITIONS.tolist())
        joints.header.stamp = stamp
        self._joint_pub.publish(joints)
        for publisher, image in zip(self._image_pubs, self._images):
            msg = numpy_to_image(image)
            msg.header.stamp = stamp
            publisher.publish(msg)
        self.sensor_sets += 1

    def transition(self, transition_id: int) -> None:
        response = self.spinner.call(self.change_state, ChangeState.Request(
            transition=Transition(id=transition_id)), timeout_s=START_TIMEOUT_S)
        assert response.success, f"transition {transition_id} failed"

    def state(self) -> int:
        return self.spinner.call(self.get_state, GetState.Request()).current_state.id

    def set_parameter(self, name: str, value: object) -> None:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        assert self.spinner.call(self.set_parameters, request).results[0].successful

    def assert_quiet(self) -> None:
        """No chunk made after the latest status (the transition's) arrives while the node, on its
        own clock, runs ``QUIET_STATUS_TICKS`` status periods with sensors flowing."""
        # Every chunk made so far has a smaller sequence (one per accepted input; the tiny model's
        # inference does not fail), and any chunk made from now on a sequence at least this.
        made_before = self.statuses[-1].inputs_received - self.statuses[-1].rejected_inputs
        statuses, sensor_sets = len(self.statuses), self.sensor_sets
        wait_for(lambda: len(self.statuses) >= statuses + QUIET_STATUS_TICKS
                 and self.sensor_sets >= sensor_sets + QUIET_SENSOR_SETS,
                 f"{QUIET_STATUS_TICKS} periodic statuses of the idle node", START_TIMEOUT_S)
        stray = [c.sequence for c in self.chunks if c.sequence >= made_before]
        assert not stray, f"chunks {stray} were published while the node was not active"

    def close(self) -> str:
        try:
            return stop_process(self.proc)
        finally:
            self.spinner.close()


@pytest.fixture
def harness(ros_domain):
    made = PolicyLifecycleHarness(ros_domain.env())
    yield made
    try:
        end_processes([made.proc])
    finally:
        made.spinner.close()


def _activate_and_wait_for_chunks(harness: PolicyLifecycleHarness) -> None:
    harness.transition(Transition.TRANSITION_CONFIGURE)
    assert harness.state() == State.PRIMARY_STATE_INACTIVE
    wait_for(lambda: harness.statuses and harness.statuses[-1].model_name, "the loaded model in the status")
    harness.assert_quiet()  # configured, sensors flowing, but inactive
    count = len(harness.chunks)
    harness.transition(Transition.TRANSITION_ACTIVATE)
    assert harness.state() == State.PRIMARY_STATE_ACTIVE
    wait_for(lambda: len(harness.chunks) >= count + 2, "chunks while active", START_TIMEOUT_S)


def test_lifecycle_publishes_only_while_active_and_frees_the_model_on_cleanup(harness):
    wait_for(harness.get_state.service_is_ready, "the lifecycle services", START_TIMEOUT_S)
    wait_for(lambda: harness.statuses, "the first status")
    assert harness.state() == State.PRIMARY_STATE_UNCONFIGURED
    harness.assert_quiet()
    _activate_and_wait_for_chunks(harness)
    assert not any(c.call_for_teleop for c in harness.chunks)  # value_threshold 0 = off

    harness.set_parameter("value_threshold", 1.0)  # run time: every finite value is below it
    count = len(harness.chunks)
    wait_for(lambda: any(c.call_for_teleop for c in harness.chunks[count:]), "a chunk calling for teleop")
    flagged = next(c for c in harness.chunks[count:] if c.call_for_teleop)
    assert flagged.value < 1.0
    wait_for(lambda: any(p.chunk_sequence == flagged.sequence and p.call_for_teleop for p in harness.plans),
             "the flagged chunk's plan")
    wait_for(lambda: harness.statuses[-1].call_for_teleop, "the call for teleop in the status")

    harness.transition(Transition.TRANSITION_DEACTIVATE)  # returns after the worker stopped
    assert harness.state() == State.PRIMARY_STATE_INACTIVE
    wait_for(lambda: harness.statuses[-1].reason == "inactive", "the inactive status")
    harness.assert_quiet()  # chunks still in flight from before the transition are not strays

    harness.transition(Transition.TRANSITION_CLEANUP)
    assert harness.state() == State.PRIMARY_STATE_UNCONFIGURED
    wait_for(lambda: harness.statuses[-1].reason == "unconfigured", "the unconfigured status")
    assert harness.statuses[-1].model_name == ""  # the runner (model, planner) was released
    harness.assert_quiet()

    _activate_and_wait_for_chunks(harness)  # configure after cleanup loads and subscribes again
    log = harness.close()
    assert harness.proc.returncode == 0, log[-3000:]
