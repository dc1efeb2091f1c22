# SPDX-License-Identifier: Apache-2.0
"""ROS-free model serving for policy_node: observation assembly, inference timing, the policy runner.

torch and the model live here (not in ``control/``, whose arbiter side stays numpy-only); the node
in ``ros/policy_node.py`` is the thin adapter that turns messages into these plain values and a
:class:`~cosmos_policy_ros.serving.policy_runner.Decision` into messages (``ros/conversions.py``).
"""
