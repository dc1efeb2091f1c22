# SPDX-License-Identifier: Apache-2.0
"""The Cosmos Policy method, ROS-free: config, latent layout, codec, diffusion, sampler, model, planning."""
