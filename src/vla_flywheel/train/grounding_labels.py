"""Where the instruction's block and pad are in each frame of a demonstration, from what the robot itself recorded.

A user has the robot's own record of a demonstration: its gripper closes on the named block and opens over the named
pad. Through a calibrated camera (the table-to-pixel homography) those two gripper positions are pixels: the block's
until it is grasped, the pad's throughout, and the block's again once it is released on the pad. These labels teach a
judge which pixels the instruction's words name; the simulator's object poses and its progress are never read.
Frames while the block is carried have no block label: it is lifted off the table plane the homography maps.
"""

from __future__ import annotations

import numpy as np
import torch

from vla_flywheel.envs.tabletop.camera import to_pixels
from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF

TCP_XY = ("tcp.x", "tcp.y")  # state names of the gripper's table position, in metres
GRIPPER = "gripper"  # action name of the gripper command: > 0 closes, <= 0 opens (the expert releases at -0.4)


def named_pixels(
    states: np.ndarray, actions: np.ndarray, homography: np.ndarray, state_names: list[str], action_names: list[str]
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """-> (pixel (u, v) of the named block and pad per frame [T, 2, 2], whether each is known [T, 2]).

    None when the recording cannot say: no gripper position or command, or no grasp followed by a release.
    """
    if not set(TCP_XY) <= set(state_names) or GRIPPER not in action_names:
        return None
    closing = actions[:, action_names.index(GRIPPER)] > 0  # [T]
    if not closing.any():
        return None
    grasp = int(np.argmax(closing))
    if closing[grasp:].all():
        return None
    release = grasp + int(np.argmax(~closing[grasp:]))
    xy = states[:, [state_names.index(n) for n in TCP_XY]] / WORKSPACE_HALF  # [T, 2] normalized table coordinates
    block, pad = to_pixels(homography, xy[grasp]), to_pixels(homography, xy[release])  # [2] each
    t = np.arange(len(states))
    where = np.empty((len(states), 2, 2), dtype=np.float32)
    where[:, 0] = np.where((t <= grasp)[:, None], block, pad)  # after the release the block lies on the pad
    where[:, 1] = pad
    known = np.stack([(t <= grasp) | (t >= release), np.ones(len(t), dtype=bool)], axis=1)  # [T, 2]
    return torch.from_numpy(where), torch.from_numpy(known)
