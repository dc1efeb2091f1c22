# SPDX-License-Identifier: Apache-2.0
"""Keys of a training/inference sample, shared by data (producer), train and core (consumers).

A sample is a dict; shapes are per sample (a batch adds a leading B):

    OBS_IMAGES      uint8   (n_cameras, H, W, 3)  current images, cameras in preset order
    FUTURE_IMAGES   uint8   (n_cameras, H, W, 3)  images at the future step (step + chunk_length)
    OBS_PROPRIO     float32 (P,)                  current proprio, RAW units (the model normalizes)
    FUTURE_PROPRIO  float32 (P,)                  proprio at the future step, raw
    ACTIONS         float32 (K, D)                action chunk, raw (padded past the episode end
                                                  by repeating the last action, as upstream)
    VALUE_TARGET    float32 ()                    value target in [-1, 1] (2*G - 1, G = discounted
                                                  return at the future step, spec section 2/5)
    IS_ROLLOUT      bool    ()                    True for policy rollouts (world-model/value roles),
                                                  False for demonstrations (policy role)
    INSTRUCTION     str                           task instruction
    EPISODE_INDEX   int64   ()                    episode the sample comes from
    FRAME_INDEX     int64   ()                    step of the sample within its episode
"""

OBS_IMAGES = "observation.images"
FUTURE_IMAGES = "future.images"
OBS_PROPRIO = "observation.proprio"
FUTURE_PROPRIO = "future.proprio"
ACTIONS = "action"
VALUE_TARGET = "value_target"
IS_ROLLOUT = "is_rollout"
INSTRUCTION = "instruction"
EPISODE_INDEX = "episode_index"
FRAME_INDEX = "frame_index"
