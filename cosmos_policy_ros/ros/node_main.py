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
``executor.shutdown()`` (in-flight callbacks finish), ``close()``, the lifecycle shutdown
transition, ``destroy_node()``, ``rclpy.try_shutdown()``.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNodeMixin
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_POLL_S = 0.1  # longest wait of one spin step: the delay between a stop signal and shutdown
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


def _shutdown(node: Node | None, executor: Executor | None) -> None:
    """Stop callbacks, run the node's hooks while it can still publish, then tear down."""
    try:
        if executor is not None:
            executor.shutdown()  # waits for callbacks in flight: the hooks never race one
        close = getattr(node, "close", None)
        if callable(close):
            close()
        if node is not None:
            _finish_lifecycle(node)
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
