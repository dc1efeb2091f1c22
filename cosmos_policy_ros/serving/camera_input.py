# SPDX-License-Identifier: Apache-2.0
"""A camera driver's frame -> the image the model sees, as the official pipeline makes it.

Official ALOHA (NVlabs/cosmos-policy commit 18a2acc, spec 5.1): the client resizes each 480x640
RealSense frame to 256x256 with PIL bicubic (``experiments/robot/aloha/aloha_utils.py``
``resize_image_for_preprocessing``, the size the training videos were stored at by
``preprocess_split_aloha_data.py``), then to 224x224 with PIL's default filter, bicubic
(``run_aloha_eval.py`` / ``cosmos_utils.py`` ``resize_images``); aspect is not kept, nothing is
cropped. The test-time centre crop comes after, inside the model (``core.model.encode_observation``),
which finds the image already at its size. policy_node calls :func:`model_image` once per frame
it feeds the model; the preset's :class:`~cosmos_policy_ros.presets.CameraSpec` says the sizes.
"""
from __future__ import annotations

import numpy as np

from cosmos_policy_ros.core.transforms import resize_image
from cosmos_policy_ros.presets import CameraSpec


def model_image(frame: np.ndarray, camera: CameraSpec) -> np.ndarray:
    """``frame`` (uint8 (H, W, 3) RGB at the camera's published size) at the model's size.

    Raises:
        ValueError: the frame is not the size the preset says the driver publishes (a wrong camera
            or driver setting is never resized silently).
    """
    if frame.shape != (*camera.frame_size, 3):
        raise ValueError(f"camera {camera.name}: frame is {frame.shape[1]}x{frame.shape[0]}, the preset's driver "
                         f"publishes {camera.width}x{camera.height}")
    if camera.preprocess_size is not None:
        frame = resize_image(frame, camera.preprocess_size, camera.preprocess_size)
    return resize_image(frame, *camera.model_size)
