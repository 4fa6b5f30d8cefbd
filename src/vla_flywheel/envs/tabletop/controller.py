"""A waypoint motion controller for pick-and-place, shared by the primitive interface and the scripted experts.

It speaks the `ee_delta` action language (Δxyz, Δyaw, gripper in [-1, 1]) so the experts' demonstrations are
exactly what a policy could have output, and the primitive interface is this same controller run without
rendering. Heights: the tool centre point (TCP) sits 2 mm below a grasped block's centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_DXYZ = 0.05  # metres of setpoint motion per control step at |action| = 1 (0.5 m/s at 10 Hz)
MAX_DYAW = 0.25  # radians per control step at |action| = 1
CARRY_Z = 0.12  # TCP height for moving above the scene
GRASP_BELOW_CENTRE = 0.002
OPEN, CLOSED = -1.0, 1.0
RELEASE = -0.4  # opens 4.5 mm past a cube's faces: enough to let go, narrow enough to miss a neighbour 2.5 cm away


@dataclass
class Waypoint:
    xyz: np.ndarray  # (3,) TCP target
    yaw: float
    grip: float
    hold: int = 0  # extra control steps to stay here (gripper closing/opening)


def pick_place_waypoints(pick_xyz: np.ndarray, yaw: float, place_xyz: np.ndarray) -> list[Waypoint]:
    """Above the block, down, close, lift, carry, lower, open, retreat. `*_xyz` are block-centre targets."""
    grasp = pick_xyz - [0, 0, GRASP_BELOW_CENTRE]
    place = place_xyz - [0, 0, GRASP_BELOW_CENTRE]
    up = lambda p: np.array([p[0], p[1], CARRY_Z])  # noqa: E731
    return [
        Waypoint(up(grasp), yaw, OPEN),
        Waypoint(grasp, yaw, OPEN),
        Waypoint(grasp, yaw, CLOSED, hold=3),
        Waypoint(up(grasp), yaw, CLOSED),
        Waypoint(up(place), yaw, CLOSED),
        Waypoint(place, yaw, CLOSED),
        Waypoint(place, yaw, RELEASE, hold=2),
        Waypoint(up(place), yaw, RELEASE),
    ]


class WaypointFollower:
    """Turns a waypoint list into ee_delta actions, one control step at a time.

    gain: proportional gain on the remaining xyz distance, in units of a full step. 1 (the primitive interface) is
    deadbeat: a waypoint within one step's reach is hit in a single step. Below 1 the setpoint decelerates geometrically
    over the last `MAX_DXYZ / gain` metres (the scripted experts use this: their demonstrations then show several small
    corrective steps near every waypoint, and the action is a smooth function of the offset, which a learned policy
    can reproduce precisely).
    """

    def __init__(self, waypoints: list[Waypoint], reach_tol: float = 0.008, gain: float = 1.0):
        if not 0 < gain <= 1:
            raise ValueError(f"WaypointFollower: gain={gain} must be in (0, 1]")
        self.waypoints = waypoints
        self.reach_tol = reach_tol
        self.gain = gain
        self.index = 0
        self._held = 0

    @property
    def done(self) -> bool:
        return self.index >= len(self.waypoints)

    def act(self, setpoint: np.ndarray, tcp: np.ndarray) -> np.ndarray:
        """Action (5,) moving the setpoint (x, y, z, yaw) toward the current waypoint; advances when reached."""
        while not self.done:
            wp = self.waypoints[self.index]
            # Tolerances, not equality: a noisy expert's setpoint lands near a waypoint, rarely on it.
            at_setpoint = np.abs(wp.xyz - setpoint[:3]).max() < 0.004 and abs(wp.yaw - setpoint[3]) < 0.05
            if at_setpoint and np.linalg.norm(tcp - wp.xyz) < self.reach_tol and self._held >= wp.hold:
                self.index += 1
                self._held = 0
                continue
            if at_setpoint:
                self._held += 1
            action = np.empty(5)
            action[:3] = np.clip(self.gain * (wp.xyz - setpoint[:3]) / MAX_DXYZ, -1, 1)
            action[3] = np.clip((wp.yaw - setpoint[3]) / MAX_DYAW, -1, 1)
            action[4] = wp.grip
            return action
        last = self.waypoints[-1]
        return np.array([0.0, 0.0, 0.0, 0.0, last.grip])


def aligned_yaw(block_yaw: float, avoid_direction: np.ndarray | None = None) -> float:
    """Gripper yaw in [-pi/2, pi/2) that grasps a cube of yaw `block_yaw` across two faces.

    A cube offers two grasps 90 degrees apart. By default the one nearest yaw 0; with `avoid_direction` (a table xy
    direction toward a neighbour of the place point) the one whose fingers open across it, not toward it.
    """
    yaw = (block_yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4
    if avoid_direction is not None:
        fingers = lambda y: np.array([-np.sin(y), np.cos(y)])  # noqa: E731  finger opening axis
        other = yaw + np.pi / 2
        if abs(fingers(other) @ avoid_direction) < abs(fingers(yaw) @ avoid_direction):
            yaw = other
    return float((yaw + np.pi / 2) % np.pi - np.pi / 2)
