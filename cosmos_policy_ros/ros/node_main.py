# SPDX-License-Identifier: Apache-2.0
"""One portable ``main`` for every node (Humble to Kilted, plain and lifecycle nodes).

Why not ``rclpy.spin(node)``: rclpy's own SIGINT/SIGTERM handler shuts the context down before
any of our code runs, so a node can no longer publish on the way out. The command arbiter must
command HOLD when it is stopped, so :func:`run_node` keeps the context alive until the node's
``close()`` hook has run: the executor spins on a worker thread, the main thread waits for a
signal (or for the executor to end), then shuts down in the order that never aborts the process
(close hook, ``executor.shutdown()``, join, ``destroy_node()``, ``rclpy.try_shutdown()``).
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from cosmos_policy_ros.ros.dds_env import apply_local_dds_defaults

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Spinner:
    """Spins an executor on a worker thread and remembers why it stopped."""

    def __init__(self, executor: MultiThreadedExecutor, stop: threading.Event) -> None:
        self._executor = executor
        self._stop = stop
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._spin, name="executor", daemon=True)

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass  # someone called rclpy.shutdown(): a normal way to end
        except BaseException as err:  # a callback raised: re-raised on the main thread
            self.error = err
        finally:
            self._stop.set()


def _install_stop_handlers(stop: threading.Event) -> dict[int, object]:
    """Route SIGINT/SIGTERM to ``stop``; returns the previous handlers (empty off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}


def _shutdown(node: Node | None, executor: MultiThreadedExecutor | None,
              spinner: _Spinner | None) -> None:
    """Close hook first (the node may still publish), then tear down in the order that never aborts."""
    try:
        close = getattr(node, "close", None)
        if callable(close):
            close()
    finally:
        if executor is not None:
            executor.shutdown()
        if spinner is not None:
            spinner.thread.join()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


def run_node(node_factory: Callable[[], Node], args: Sequence[str] | None = None,
             num_threads: int = 4) -> int:
    """Run one node until SIGINT/SIGTERM or ``rclpy.shutdown()``, then shut down cleanly.

    Args:
        node_factory: builds the node after ``rclpy.init`` (parameters, publishers, ...). A node
            with a ``close()`` method gets it called first on shutdown, while it can still publish.
        args: command-line arguments for ``rclpy.init`` (``--ros-args ...``); None = ``sys.argv``.
        num_threads: threads of the ``MultiThreadedExecutor``.

    Returns:
        0 on a normal stop. An exception raised by the factory or by a callback propagates after
        the clean shutdown, so the process exits non-zero with the traceback.
    """
    apply_local_dds_defaults()
    rclpy.init(args=None if args is None else list(args),
               signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    previous_handlers = _install_stop_handlers(stop)
    node: Node | None = None
    executor: MultiThreadedExecutor | None = None
    spinner: _Spinner | None = None
    try:
        node = node_factory()
        executor = MultiThreadedExecutor(num_threads=num_threads)
        executor.add_node(node)
        spinner = _Spinner(executor, stop)
        spinner.thread.start()
        stop.wait()
    except KeyboardInterrupt:
        pass  # Ctrl-C while the node was being built
    finally:
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)  # a second Ctrl-C during shutdown interrupts as usual
        _shutdown(node, executor, spinner)
    if spinner is not None and spinner.error is not None:
        raise spinner.error
    return 0
