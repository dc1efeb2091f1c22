# SPDX-License-Identifier: Apache-2.0
"""One portable ``main`` for every node (Humble to Kilted, plain and lifecycle nodes).

Why not ``rclpy.spin(node)``: rclpy's own SIGINT/SIGTERM handler shuts the context down before
any of our code runs, so a node can no longer publish on the way out. The command arbiter must
command HOLD when it is stopped, so :func:`run_node` turns rclpy's handlers off, treats SIGTERM
exactly like Ctrl-C, and keeps the context alive until the node's shutdown hooks have run.

The executor spins on the calling (main) thread in short ``spin_once`` steps; a stop signal only
sets a flag, so a callback is never interrupted half-way. With ``num_threads=1`` every callback,
the node's constructor and its ``close()`` run on that one thread, which thread-bound resources
(MuJoCo's EGL render contexts) need. The shutdown order never aborts the process:
the executor stops (in-flight callbacks finish, ``compat.shutdown_executor``), ``close()``, the
lifecycle shutdown transition, the last messages acknowledged (``_flush``), ``destroy_node()``,
``rclpy.try_shutdown()``.
"""
from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.duration import Duration
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNodeMixin
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from cosmos_policy_ros.crash_traces import enable_crash_traces
from cosmos_policy_ros.ros.compat import shutdown_executor

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_POLL_S = 0.1  # longest wait of one spin step: the delay between a stop signal and shutdown
SHUTDOWN_ACK_TIMEOUT_S = 2.0  # longest wait, all publishers together, for the last messages' acknowledgements
LIFECYCLE_LIVE_STATES = ("unconfigured", "inactive", "active")  # states with a shutdown transition


def _install_stop_handlers(stop: threading.Event) -> dict[int, object]:
    """Route SIGINT/SIGTERM to ``stop``; returns the previous handlers (empty off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}


def _make_executor(num_threads: int) -> Executor:
    return SingleThreadedExecutor() if num_threads == 1 else MultiThreadedExecutor(num_threads=num_threads)


def _finish_lifecycle(node: Node) -> None:
    """Take a lifecycle node through its shutdown transition, as rclcpp does on destruction.

    ``on_shutdown`` then frees what ``on_configure`` made (models, GPU memory) whatever state the
    node was stopped in. rclpy has no public getter for the state, hence ``_state_machine``.
    """
    if isinstance(node, LifecycleNodeMixin) and node._state_machine.current_state[1] in LIFECYCLE_LIVE_STATES:
        node.trigger_shutdown()


def _flush(node: Node) -> None:
    """Wait (at most ``SHUTDOWN_ACK_TIMEOUT_S`` in all) until every reliable subscriber has
    acknowledged what the node published, so the last messages (the arbiter's HOLD on each
    controller topic) outlive the process.

    A sample still unacknowledged when the participant goes away can be lost: a process that
    published one reliable message and exited at once lost it 2 times in 140 on the Jazzy wheels
    and 7 in 140 on the Kilted ones, 0 in 80 on each after ``wait_for_all_acked`` (docs/TESTING.md,
    "Issue 18 (Jazzy)"). Best-effort publishers return at once (rclpy ``Publisher.wait_for_all_acked``).
    """
    if not node.context.ok():
        return  # someone shut the context down: its publishers are gone (nothing is waited for)
    deadline = time.monotonic() + SHUTDOWN_ACK_TIMEOUT_S
    for publisher in list(node.publishers):
        publisher.wait_for_all_acked(Duration(seconds=max(0.0, deadline - time.monotonic())))


def _shutdown(node: Node | None, executor: Executor | None) -> None:
    """Stop callbacks, run the node's hooks while it can still publish, flush, then tear down."""
    try:
        if executor is not None:
            shutdown_executor(executor)  # no callback in flight: the hooks never race one
        close = getattr(node, "close", None)
        if callable(close):
            close()
        if node is not None:
            _finish_lifecycle(node)
            _flush(node)
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def run_node(node_factory: Callable[[], Node], args: Sequence[str] | None = None,
             num_threads: int = 4) -> int:
    """Run one node until SIGINT/SIGTERM or ``rclpy.shutdown()``, then shut down cleanly.

    Args:
        node_factory: builds the node after ``rclpy.init`` (parameters, publishers, ...). A node
            with a ``close()`` method gets it called on shutdown after the last callback, while
            it can still publish (the arbiter's final HOLD). A lifecycle node is then taken
            through its shutdown transition unless it is already finalized.
        args: command-line arguments for ``rclpy.init`` (``--ros-args ...``); None = ``sys.argv``.
        num_threads: callback threads. 1 = ``SingleThreadedExecutor``: every callback runs on the
            calling thread, like the constructor and ``close()``; > 1 = ``MultiThreadedExecutor``.

    Returns:
        0 on a normal stop. An exception raised by the factory or by a callback propagates after
        the clean shutdown, so the process exits non-zero with the traceback.

    Raises:
        ValueError: ``num_threads`` < 1.
    """
    if num_threads < 1:
        raise ValueError(f"num_threads={num_threads} must be >= 1")
    enable_crash_traces()  # a native crash (DDS, rclpy, torch, MuJoCo) names its Python stack in the log
    rclpy.init(args=None if args is None else list(args),
               signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous_handlers = _install_stop_handlers(stop)
    node: Node | None = None
    executor: Executor | None = None
    try:
        node = node_factory()
        executor = _make_executor(num_threads)
        executor.add_node(node)
        while not stop.is_set() and executor.context.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # someone called rclpy.shutdown(), or Ctrl-C arrived off the main thread's handlers
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)  # a second Ctrl-C during shutdown interrupts as usual
        _shutdown(node, executor)
    return 0
