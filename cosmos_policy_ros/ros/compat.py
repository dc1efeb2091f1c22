# SPDX-License-Identifier: Apache-2.0
"""rclpy differences between the supported distros (Humble, Jazzy, Kilted), in one place.

Checked against rclpy's own sources (github.com/ros2/rclpy):

* ``Node.add_post_set_parameters_callback`` exists from Iron on (branch ``jazzy``,
  rclpy/rclpy/node.py) and not on ``humble`` (3.3.x), where ``add_on_set_parameters_callback`` is
  the only hook and runs before the values are stored.
* ``Executor.shutdown()`` waits for the callbacks in flight on ``humble`` (``_work_tracker.wait``,
  rclpy/rclpy/executors.py); from 7.x (``jazzy``, 7.1.6 as the ros-jazzy wheels ship it) that wait
  sits under ``if not self._is_shutdown:`` right after ``_is_shutdown = True``, so it never runs,
  and Jazzy's ``MultiThreadedExecutor`` does not join its worker pool either (Kilted's
  ``shutdown(wait_for_threads=True)`` does).
"""
from __future__ import annotations

from collections.abc import Callable

from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.parameter import Parameter

Validate = Callable[[list[Parameter]], SetParametersResult]
Apply = Callable[[list[Parameter]], None]


def add_parameter_callbacks(node: Node, validate: Validate, apply: Apply) -> None:
    """``validate`` may reject a change; ``apply`` reacts to an accepted one.

    Jazzy and later: ``apply`` runs after the values are stored (post-set callback). Humble:
    ``apply`` runs right after ``validate`` accepted, inside the one on-set callback, just before
    rclpy stores the values (the descriptor checks, read-only and ranges, ran already).
    """
    if hasattr(node, "add_post_set_parameters_callback"):
        node.add_on_set_parameters_callback(validate)
        node.add_post_set_parameters_callback(apply)
        return

    def validate_then_apply(parameters: list[Parameter]) -> SetParametersResult:
        result = validate(parameters)
        if result.successful:
            apply(parameters)
        return result

    node.add_on_set_parameters_callback(validate_then_apply)


def shutdown_executor(executor: Executor) -> None:
    """Stop ``executor`` and return once no callback of it runs any more, on every distro.

    Jazzy's ``shutdown()`` returns while a ``MultiThreadedExecutor`` worker may still run a
    callback; the workers are a ``concurrent.futures.ThreadPoolExecutor`` in ``_executor`` (Humble,
    Jazzy and Kilted alike), joined here as Kilted's own shutdown joins it. A
    ``SingleThreadedExecutor`` spun on the calling thread has nothing in flight.
    """
    executor.shutdown()
    workers = getattr(executor, "_executor", None)
    if workers is not None:
        workers.shutdown(wait=True)
