# SPDX-License-Identifier: Apache-2.0
"""ROS-free training: torchrun trainer (DDP/FSDP, EMA, resume) and offline evaluation."""
