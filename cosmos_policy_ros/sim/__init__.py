# SPDX-License-Identifier: Apache-2.0
"""MuJoCo arm that follows JointTrajectory like joint_trajectory_controller, tasks and a scripted expert."""
