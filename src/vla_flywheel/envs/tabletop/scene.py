"""The tabletop scene as MJCF: table, free-floating parallel-jaw gripper, coloured blocks and target pads.

One model is compiled with the largest number of blocks and pads a scene may hold; a reset recolours the blocks and
pads it uses and parks the others on the floor out of the camera's view. One compiled model for every scene keeps
`get_state`/`set_state` a plain copy of the physics state and lets benchmarks time the very model the env steps.

Geometry (metres, table top at z = 0): 4 cm cubes; 7 cm square pads 1 mm thick that only show (no collision); the
hand's joints equal the world xyz/yaw of its tool centre point (TCP), which sits between the fingertips.
Shadows, reflections and multisampling are off: at 64 px a frame then costs ~0.7 ms instead of ~5 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_BLOCKS = 6
MAX_PADS = 3
BLOCK_HALF = 0.02  # cube half-size
PAD_HALF = 0.035  # pad half-size
WORKSPACE_HALF = 0.25  # normalized table coordinate 1.0 is this many metres from the centre
FINGER_OPEN = 0.035  # finger joint target when open (inner faces 3.5 cm from the centre)
PARK_Z = -0.73  # parked objects rest on the floor (at z = -0.75), far outside the camera's view

# name -> RGB; distinct hues that stay distinguishable at 64 px under flat lighting.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1),
    "orange": (1.0, 0.55, 0.0),
    "yellow": (0.95, 0.9, 0.1),
    "green": (0.1, 0.7, 0.15),
    "cyan": (0.1, 0.85, 0.9),
    "blue": (0.1, 0.25, 0.95),
    "purple": (0.55, 0.15, 0.75),
    "pink": (1.0, 0.5, 0.75),
    "white": (0.95, 0.95, 0.95),
}
COLOURS: tuple[str, ...] = tuple(PALETTE)


@dataclass(frozen=True)
class SceneIds:
    """Indices into the compiled model, looked up once so the step loop does no name lookups."""

    block_body: tuple[int, ...]
    block_geom: tuple[int, ...]
    block_qpos: tuple[int, ...]  # start of each block's 7-dof free joint in qpos
    block_qvel: tuple[int, ...]
    pad_geom: tuple[int, ...]
    finger_geoms: tuple[int, int]
    hand_qpos: int  # hx, hy, hz, hyaw are 4 consecutive qpos entries
    finger_qpos: tuple[int, int]
    camera: dict[str, int]


def _block_xml(i: int) -> str:
    x = 1.0 + 0.1 * i
    return (
        f'<body name="block{i}" pos="{x} 1.0 {PARK_Z}"><freejoint name="block{i}_joint"/>'
        f'<geom name="block{i}" class="block" rgba="1 1 1 1"/></body>'
    )


def _pad_xml(i: int) -> str:
    return (
        f'<geom name="pad{i}" type="box" pos="{1.0 + 0.1 * i} -1.0 {PARK_Z}" size="{PAD_HALF} {PAD_HALF} 0.0005" '
        f'contype="0" conaffinity="0" rgba="1 1 1 1"/>'
    )


def scene_xml(wrist_camera: bool = True) -> str:
    """MJCF of the scene. Control: position actuators track a setpoint the env moves (see env.py)."""
    blocks = "\n    ".join(_block_xml(i) for i in range(MAX_BLOCKS))
    pads = "\n    ".join(_pad_xml(i) for i in range(MAX_PADS))
    wrist = '<camera name="wrist" pos="0 -0.13 0.13" xyaxes="1 0 0 0 0.74 0.67" fovy="75"/>' if wrist_camera else ""
    return f"""
<mujoco model="vla_flywheel_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" cone="elliptic" impratio="10" integrator="implicitfast"/>
  <visual>
    <global offwidth="640" offheight="640"/>
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="wood" type="2d" builtin="checker" width="64" height="64" rgb1=".62 .52 .40" rgb2=".58 .48 .37"/>
    <material name="wood" texture="wood" texrepeat="4 4" reflectance="0"/>
  </asset>
  <default>
    <geom solref="0.01 1" solimp="0.95 0.99 0.001"/>
    <default class="block">
      <geom type="box" size="{BLOCK_HALF} {BLOCK_HALF} {BLOCK_HALF}" mass="0.05" friction="1.0 0.01 0.001" condim="4"/>
    </default>
    <default class="finger">
      <geom type="box" size=".008 .008 .03" friction="1.5 0.02 0.002" condim="4" rgba=".2 .2 .2 1" mass="0.05"/>
    </default>
  </default>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1" directional="true" castshadow="false" diffuse=".5 .5 .5"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 .1" rgba=".3 .3 .3 1"/>
    <geom name="table" type="box" pos="0 0 -0.02" size=".4 .4 .02" material="wood"/>
    <camera name="front" pos="0 -0.50 0.80" xyaxes="1 0 0 0 0.85 0.53" fovy="38"/>
    {pads}
    {blocks}
    <body name="hand" pos="0 0 0" gravcomp="1">
      <joint name="hx" type="slide" axis="1 0 0" damping="60" armature="0.01"/>
      <joint name="hy" type="slide" axis="0 1 0" damping="60" armature="0.01"/>
      <joint name="hz" type="slide" axis="0 0 1" damping="60" armature="0.01"/>
      <joint name="hyaw" type="hinge" axis="0 0 1" damping="2" armature="0.001"/>
      <geom name="palm" type="box" pos="0 0 0.065" size=".02 .055 .012" rgba=".75 .75 .78 1" mass="0.3"/>
      <geom name="wrist_link" type="cylinder" pos="0 0 0.12" size=".012 .045" rgba=".75 .75 .78 1" mass="0.05"/>
      <site name="tcp" pos="0 0 0" size=".005" rgba="1 0 1 0"/>
      {wrist}
      <body name="left_finger" pos="0 0 0.025" gravcomp="1">
        <joint name="lf" type="slide" axis="0 1 0" range="0 0.045" damping="5" armature="0.001"/>
        <geom name="left_finger" class="finger" pos="0 0.008 0"/>
      </body>
      <body name="right_finger" pos="0 0 0.025" gravcomp="1">
        <joint name="rf" type="slide" axis="0 -1 0" range="0 0.045" damping="5" armature="0.001"/>
        <geom name="right_finger" class="finger" pos="0 -0.008 0"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="ax" joint="hx" kp="2000" ctrlrange="-0.4 0.4" forcerange="-100 100"/>
    <position name="ay" joint="hy" kp="2000" ctrlrange="-0.4 0.4" forcerange="-100 100"/>
    <position name="az" joint="hz" kp="2000" ctrlrange="-0.05 0.5" forcerange="-100 100"/>
    <position name="ayaw" joint="hyaw" kp="20" ctrlrange="-3.2 3.2"/>
    <position name="alf" joint="lf" kp="300" ctrlrange="0 0.045" forcerange="-15 15"/>
    <position name="arf" joint="rf" kp="300" ctrlrange="0 0.045" forcerange="-15 15"/>
  </actuator>
</mujoco>
"""


def build_model(wrist_camera: bool = True):
    """Compile the scene; returns (model, ids)."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(scene_xml(wrist_camera))
    name = lambda kind, n: mujoco.mj_name2id(model, kind, n)  # noqa: E731
    body, geom, joint = mujoco.mjtObj.mjOBJ_BODY, mujoco.mjtObj.mjOBJ_GEOM, mujoco.mjtObj.mjOBJ_JOINT
    block_joints = [name(joint, f"block{i}_joint") for i in range(MAX_BLOCKS)]
    cameras = {"front": name(mujoco.mjtObj.mjOBJ_CAMERA, "front")}
    if wrist_camera:
        cameras["wrist"] = name(mujoco.mjtObj.mjOBJ_CAMERA, "wrist")
    ids = SceneIds(
        block_body=tuple(name(body, f"block{i}") for i in range(MAX_BLOCKS)),
        block_geom=tuple(name(geom, f"block{i}") for i in range(MAX_BLOCKS)),
        block_qpos=tuple(int(model.jnt_qposadr[j]) for j in block_joints),
        block_qvel=tuple(int(model.jnt_dofadr[j]) for j in block_joints),
        pad_geom=tuple(name(geom, f"pad{i}") for i in range(MAX_PADS)),
        finger_geoms=(name(geom, "left_finger"), name(geom, "right_finger")),
        hand_qpos=int(model.jnt_qposadr[name(joint, "hx")]),
        finger_qpos=(int(model.jnt_qposadr[name(joint, "lf")]), int(model.jnt_qposadr[name(joint, "rf")])),
        camera=cameras,
    )
    return model, ids


def parked_position(i: int) -> np.ndarray:
    """Where unused block i rests: on the floor, outside the camera's view."""
    return np.array([1.0 + 0.1 * i, 1.0, PARK_Z])
