# SPDX-License-Identifier: Apache-2.0
"""The embedded demo: record teleop demos on the sim, fine-tune, deploy with plan-and-select, hand off."""
