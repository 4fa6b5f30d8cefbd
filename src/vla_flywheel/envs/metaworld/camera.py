"""Fast, upright camera images of a Meta-World scene.

Meta-World's own `render()` costs ~50 ms per 64 px frame on a CPU (reference/machine.md §3): its model asks for 4x
multisampled offscreen buffers, 4096 px shadow maps and reflections. Here one `mujoco.Renderer` on the env's model
draws every camera with multisampling, shadows and reflections off: ~5 ms per 64 px frame (the remaining cost is
the 67k mesh faces of the Sawyer arm under software GL).

Meta-World's corner cameras are mounted rolled by 180° (their image "up" axis points at the floor), so their images
come out upside down. A camera whose up axis points below the horizon is rotated back by 180° (both axes flipped: a
roll, not a mirror image), so every image has the world's up at the top.
"""

from __future__ import annotations

import mujoco
import numpy as np

from vla_flywheel.envs.rendering import make_renderer


def upside_down(data, camera_id: int) -> bool:
    """Whether the camera's image-up axis points downwards in the world (column 1 of cam_xmat is camera y = up)."""
    return bool(data.cam_xmat[camera_id].reshape(3, 3)[2, 1] < 0)


class CameraRig:
    """Named views (observation key -> Meta-World camera) rendered upright by one fast offscreen renderer."""

    def __init__(self, model, data, views: dict[str, str], size: int):
        model.vis.quality.offsamples = 0  # must be set before the GL context allocates its buffers
        self.renderer = make_renderer(model, size)  # shadows and reflections off
        mujoco.mj_forward(model, data)
        self.views: dict[str, tuple[int, bool]] = {}
        for key, name in views.items():
            camera_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
            self.views[key] = (camera_id, upside_down(data, camera_id))

    def render(self, data, key: str) -> np.ndarray:
        """uint8 [S, S, 3], world up at the top."""
        camera_id, flip = self.views[key]
        self.renderer.update_scene(data, camera=camera_id)
        image = self.renderer.render()
        return np.ascontiguousarray(image[::-1, ::-1]) if flip else image

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
