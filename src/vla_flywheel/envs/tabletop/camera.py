"""Where a point of the table appears in a camera image: the plane-to-image homography of a pinhole camera.

The primitive policy head points at pixels (a heatmap over the image) and the primitive interface takes table
coordinates; for points on a horizontal plane the two are related exactly by a 3x3 homography, which the policy
stores in its config. Pixel coordinates are continuous: pixel (row i, column j) covers u in [j, j+1), v in [i, i+1).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from vla_flywheel.envs.tabletop.scene import BLOCK_HALF, WORKSPACE_HALF


def workspace_homography(model, data, camera_id: int, image_size: int, z: float = BLOCK_HALF) -> np.ndarray:
    """H [3, 3] with [u s, v s, s] = H @ [x, y, 1] for normalized table coordinates (x, y) at height z.

    Normalized coordinates are the primitive interface's: x, y in [-1, 1] span ±WORKSPACE_HALF metres.
    """
    mujoco.mj_forward(model, data)
    centre = data.cam_xpos[camera_id]
    rot = data.cam_xmat[camera_id].reshape(3, 3)  # columns: camera x (right), y (up), z (backwards) in world
    focal = 0.5 * image_size / math.tan(math.radians(model.cam_fovy[camera_id]) / 2)
    # camera-frame point as an affine function of (x, y, 1)
    affine = rot.T @ np.array([[WORKSPACE_HALF, 0, -centre[0]], [0, WORKSPACE_HALF, -centre[1]], [0, 0, z - centre[2]]])
    half = image_size / 2
    intrinsics = np.array([[focal, 0.0, -half], [0.0, -focal, -half], [0.0, 0.0, -1.0]])
    return intrinsics @ affine


def to_pixels(homography: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """[..., 2] normalized table xy -> [..., 2] continuous pixel (u, v)."""
    h = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1) @ homography.T
    return h[..., :2] / h[..., 2:]


def to_table(homography: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """[..., 2] pixel (u, v) -> [..., 2] normalized table xy on the homography's plane."""
    return to_pixels(np.linalg.inv(homography), uv)


def front_camera_homography(image_size: int) -> np.ndarray:
    """The workspace homography of the tabletop's fixed front camera (what a primitive heatmap policy stores)."""
    from vla_flywheel.envs.tabletop.scene import build_model

    model, ids = build_model(wrist_camera=False)
    return workspace_homography(model, mujoco.MjData(model), ids.camera["front"], image_size)
