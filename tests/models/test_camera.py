"""The workspace homography maps table points to the pixels where the camera really renders them."""

import mujoco
import numpy as np

from vla_flywheel.envs import make_env
from vla_flywheel.envs.tabletop.camera import front_camera_homography, to_pixels, to_table
from vla_flywheel.envs.tabletop.scene import WORKSPACE_HALF, parked_position


def test_block_centres_project_onto_pixels_that_the_block_covers():
    """Removing a block changes the pixel its centre projects to, and leaves a pixel 8 px away as it was."""
    env = make_env(family="pick_place", interface="primitive", num_blocks=(6, 6), render_mode="rgb_array")
    homography = front_camera_homography(64)
    covered = untouched = 0
    for seed in range(3):
        env.reset(seed=seed)
        for i in range(len(env.scene.block_colours)):
            state = env.get_state()
            before = env.render().astype(int)
            u, v = to_pixels(homography, env.block_positions()[i, :2] / WORKSPACE_HALF).astype(int)
            q = env.ids.block_qpos[i]
            env.data.qpos[q : q + 3] = parked_position(i)
            mujoco.mj_forward(env.model, env.data)
            after = env.render().astype(int)
            covered += np.abs(before[v, u] - after[v, u]).max() > 40
            far = (min(u + 8, 63), v)
            untouched += np.abs(before[far[1], far[0]] - after[far[1], far[0]]).max() <= 40
            env.set_state(state)
    env.close()
    assert covered >= 17 and untouched >= 16  # a block in front may hide part of another, or sit 8 px away


def test_table_to_pixels_and_back_is_the_identity():
    homography = front_camera_homography(64)
    xy = np.random.default_rng(0).uniform(-1, 1, (50, 2))
    np.testing.assert_allclose(to_table(homography, to_pixels(homography, xy)), xy, atol=1e-9)
