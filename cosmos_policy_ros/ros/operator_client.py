# SPDX-License-Identifier: Apache-2.0
"""The operator's side of the graph: one ROS client behind the plain verbs, the console and the demo.

Everything an operator does is a service call on a running node (names: docs/INTERFACES.md):
the arbiter's ``set_mode`` / ``estop`` / ``reset``, the recorder's ``start_episode`` /
``end_episode`` / ``discard_episode``, the policy's ``set_instruction`` and the standard lifecycle
services (``change_state``, ``get_state``, ``get_available_transitions``, as ``ros2 lifecycle``
uses them). A node that answers "no" raises :class:`Refused` carrying the node's own reason; a
node that is not there within the timeout raises :class:`Unavailable`. The client also keeps the
latest arbiter, policy and recorder status (latched topics) for the console.

Threads: a one-shot verb (:func:`run_verb`) never starts one: it spins the node in its own thread
only while it waits for an answer, as ``ros2 service call`` does, and so ends with no thread in
rclpy (a verb once died of SIGSEGV at exit, after its answer, with a spinning thread being torn
down). The console and the demo watch topics, so :func:`spinning` spins in a background thread;
it stops that thread before anything is destroyed.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.srv import ChangeState, GetAvailableTransitions, GetState
from rcl_interfaces.srv import SetParameters
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from cosmos_policy_msgs.msg import ActionChunk, PolicyStatus
from cosmos_policy_msgs.srv import EndEpisode, SetInstruction, SetMode, StartEpisode

from cosmos_policy_ros.ros.compat import shutdown_executor
from cosmos_policy_ros.ros.dds_env import apply_local_dds_defaults
from cosmos_policy_ros.ros.qos import COMMAND_QOS, LATCHED_QOS

WAIT_POLL_S = 0.01
SPIN_SLICE_S = 0.05  # the background spin checks for its stop this often
DEFAULT_TIMEOUT_S = 10.0
MODES = {"teleop": SetMode.Request.MODE_TELEOP, "policy": SetMode.Request.MODE_POLICY,
         "hold": SetMode.Request.MODE_HOLD, "estop": SetMode.Request.MODE_ESTOP}
MODE_NAMES = {value: name.upper() for name, value in MODES.items()}
OUTCOMES = {"success": EndEpisode.Request.OUTCOME_SUCCESS, "failure": EndEpisode.Request.OUTCOME_FAILURE,
            "unknown": EndEpisode.Request.OUTCOME_UNKNOWN}
# Node names of the graph (cosmos_policy_ros.ros.graph), relative to the client's namespace.
ARBITER, POLICY, RECORDER = "command_arbiter", "policy_node", "recorder"
RECORDER_STATUS_TOPIC = f"{RECORDER}/status"


class Refused(RuntimeError):
    """The node answered and said no; the message is the node's reason."""


class Unavailable(TimeoutError):
    """The service did not appear, or did not answer, within the timeout."""


class OperatorClient(Node):
    """Service calls of the operator's actions plus the latest status of each node.

    Args:
        node_name: this client's node name (unique per process kind).
        namespace: the graph's namespace (``cosmos-policy up --namespace``).
        service_timeout_s: wall-clock limit for a service to appear and answer.
        use_sim_time: follow ``/clock`` (the demo measures on the sim clock).
    """

    def __init__(self, node_name: str = "operator", namespace: str = "",
                 service_timeout_s: float = DEFAULT_TIMEOUT_S, use_sim_time: bool = False,
                 watch_status: bool = True) -> None:
        super().__init__(node_name, namespace=namespace or "/",
                         parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)])
        self.service_timeout_s = service_timeout_s
        self.spun_in_background = False  # set by spinning(); else call() spins while it waits
        self._lock = threading.Lock()
        self._service_clients: dict[str, Any] = {}
        self.last_arbiter_status: PolicyStatus | None = None
        self.last_policy_status: PolicyStatus | None = None
        self.last_recorder_status: DiagnosticStatus | None = None
        self.last_chunk: ActionChunk | None = None
        if not watch_status:  # a one-shot verb needs only its service clients
            return
        self.create_subscription(PolicyStatus, f"{ARBITER}/status", self._on_arbiter, LATCHED_QOS)
        self.create_subscription(PolicyStatus, f"{POLICY}/status", self._on_policy_status, LATCHED_QOS)
        self.create_subscription(DiagnosticStatus, RECORDER_STATUS_TOPIC, self._on_recorder_status,
                                 LATCHED_QOS)
        self.create_subscription(ActionChunk, f"{POLICY}/action_chunk", self._on_chunk, COMMAND_QOS)

    # --- topics (subclasses extend these) ---------------------------------------------------------
    def _on_arbiter(self, msg: PolicyStatus) -> None:
        self.last_arbiter_status = msg

    def _on_policy_status(self, msg: PolicyStatus) -> None:
        self.last_policy_status = msg

    def _on_recorder_status(self, msg: DiagnosticStatus) -> None:
        self.last_recorder_status = msg

    def _on_chunk(self, msg: ActionChunk) -> None:
        self.last_chunk = msg

    # --- services ---------------------------------------------------------------------------------
    def call(self, service_type: Any, name: str, request: Any, timeout_s: float | None = None) -> Any:
        """Call ``name`` and wait for the answer (spinning this node meanwhile unless
        :func:`spinning` spins it in a background thread)."""
        client = self._service_clients.get(name)
        if client is None:
            client = self._service_clients[name] = self.create_client(service_type, name)
        timeout_s = self.service_timeout_s if timeout_s is None else timeout_s
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise Unavailable(f"service {self.resolve_service_name(name)} is not available after {timeout_s:g} s "
                              "(is the node running, in this ROS_DOMAIN_ID and namespace?)")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout_s
        if not self.spun_in_background:
            rclpy.spin_until_future_complete(self, future, timeout_sec=timeout_s)
        while not future.done():
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                raise Unavailable(f"service {self.resolve_service_name(name)} did not answer within {timeout_s:g} s")
            time.sleep(WAIT_POLL_S)
        return future.result()

    def _checked(self, service_type: Any, name: str, request: Any, what: str) -> Any:
        response = self.call(service_type, name, request)
        if not response.success:
            raise Refused(f"{what}: {response.message}")
        return response

    def set_mode(self, mode: int, reason: str) -> str:
        """Ask the arbiter for ``mode``; returns its message (Refused with its reason if not)."""
        name = MODE_NAMES.get(mode, str(mode))
        return self._checked(SetMode, f"{ARBITER}/set_mode", SetMode.Request(mode=mode, reason=reason),
                             f"{ARBITER} refused {name}").message

    def estop(self) -> str:
        return self._checked(Trigger, f"{ARBITER}/estop", Trigger.Request(), f"{ARBITER} refused e-stop").message

    def reset(self) -> str:
        """Clear a latched e-stop (the arbiter goes to HOLD)."""
        return self._checked(Trigger, f"{ARBITER}/reset", Trigger.Request(), f"{ARBITER} refused reset").message

    def start_episode(self, task: str, note: str) -> str:
        """Start a recorded episode; ``task`` is the instruction the policy trains on. Returns its id."""
        return self._checked(StartEpisode, f"{RECORDER}/start_episode", StartEpisode.Request(task=task, note=note),
                             f"{RECORDER} refused to start an episode").episode_id

    def end_episode(self, outcome: int, note: str) -> str:
        """End the running episode with an outcome label; returns its id."""
        return self._checked(EndEpisode, f"{RECORDER}/end_episode", EndEpisode.Request(outcome=outcome, note=note),
                             f"{RECORDER} refused to end the episode").episode_id

    def discard_episode(self) -> str:
        """Throw away the running (else the last) episode so it can be recorded again."""
        return self._checked(Trigger, f"{RECORDER}/discard_episode", Trigger.Request(),
                             f"{RECORDER} refused to discard").message

    def set_instruction(self, instruction: str) -> str:
        return self._checked(SetInstruction, f"{POLICY}/set_instruction",
                             SetInstruction.Request(instruction=instruction),
                             f"{POLICY} refused the instruction").message

    def set_parameters(self, node: str, values: dict[str, Any]) -> None:
        request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg()
                                                    for k, v in values.items()])
        response = self.call(SetParameters, f"{node}/set_parameters", request)
        failed = [r.reason for r in response.results if not r.successful]
        if failed:
            raise Refused(f"{node} refused parameters {values}: {failed}")

    # --- lifecycle (the services every managed node offers) -----------------------------------------
    def lifecycle_state(self, node: str, timeout_s: float | None = None) -> str:
        return self.call(GetState, f"{node}/get_state", GetState.Request(), timeout_s).current_state.label

    def lifecycle_transition(self, node: str, label: str) -> str:
        """Run the transition called ``label`` (configure, activate, ...); returns the new state."""
        available = self.call(GetAvailableTransitions, f"{node}/get_available_transitions",
                              GetAvailableTransitions.Request()).available_transitions
        by_label = {t.transition.label: t.transition for t in available}
        if label not in by_label:
            raise Refused(f"{node} cannot '{label}' from state '{self.lifecycle_state(node)}' "
                          f"(available: {', '.join(sorted(by_label)) or 'none'})")
        response = self.call(ChangeState, f"{node}/change_state", ChangeState.Request(transition=by_label[label]))
        state = self.lifecycle_state(node)
        if not response.success:
            raise Refused(f"{node}: transition '{label}' failed, now '{state}' (the node's log says why)")
        return state

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float,
                   what: str | Callable[[], str]) -> None:
        """Block (wall clock) until ``predicate()``; TimeoutError naming ``what`` (or ``what()``)."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                waited_for = what() if callable(what) else what
                raise TimeoutError(f"timed out after {timeout_s} s waiting for {waited_for}")
            time.sleep(WAIT_POLL_S)


def recorder_status_values(status: DiagnosticStatus | None) -> dict[str, str]:
    """The recorder's status as ``{key: value}`` (empty before the first message)."""
    return {kv.key: kv.value for kv in status.values} if status is not None else {}


ClientT = TypeVar("ClientT", bound=OperatorClient)


@contextmanager
def connected(factory: Callable[[], ClientT]) -> Iterator[ClientT]:
    """rclpy context + the client made by ``factory``; destroyed in order on the way out."""
    apply_local_dds_defaults()
    rclpy.init()
    try:
        node = factory()
        try:
            yield node
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()


@contextmanager
def spinning(factory: Callable[[], ClientT]) -> Iterator[ClientT]:
    """:func:`connected`, the client spun in a background thread (for clients that watch topics).

    The thread spins in short slices and is joined before the executor and the node are destroyed:
    nothing is torn down under a thread that is still waiting on it.
    """
    with connected(factory) as node:
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(node)
        stop = threading.Event()

        def spin() -> None:
            try:
                while not stop.is_set() and rclpy.ok():
                    executor.spin_once(timeout_sec=SPIN_SLICE_S)
            except ExternalShutdownException:  # Ctrl-C shut the context down under us
                pass

        thread = threading.Thread(target=spin, name="operator_spin", daemon=True)
        node.spun_in_background = True
        thread.start()
        try:
            yield node
        finally:
            stop.set()
            thread.join()
            shutdown_executor(executor)  # and its workers' callbacks in flight, on every distro


EXIT_REFUSED = 1
EXIT_UNAVAILABLE = 3
EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every operator verb shares: where the graph is and how long to wait for it."""
    parser.add_argument("--namespace", default="", help="ROS namespace of the graph (as given to `up`).")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="Seconds to wait for the service to appear and answer.")


def run_verb(args: argparse.Namespace, verb: str, action: Callable[[OperatorClient], str]) -> int:
    """Run one operator action and print its answer.

    Exit status: 0 done, 1 the node refused (its reason on stderr), 3 no answer within the timeout,
    130 interrupted (Ctrl-C).
    """
    prog = f"cosmos-policy {verb}"
    try:
        with connected(lambda: OperatorClient(namespace=args.namespace, service_timeout_s=args.timeout,
                                              watch_status=False)) as client:
            print(action(client))
    except Refused as err:
        print(f"{prog}: refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except Unavailable as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except ExternalShutdownException:
        print(f"{prog}: interrupted before the node answered", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
