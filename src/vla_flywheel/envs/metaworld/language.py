"""Task names and their natural-language instructions.

The names are Meta-World's own V3 environment names, and `MT10` is its MT10 benchmark's task list
(`metaworld.env_dict.MT10_V3`, metaworld 3.1.1). Meta-World itself has no instruction strings, so each task gets one
short sentence written here, phrased after the one-line task descriptions in the Meta-World paper (Yu et al., CoRL
2019, appendix table of all 50 tasks) and in the style of the tabletop's instructions (lower case, no full stop).
This module does not import `metaworld`: names can be checked and listed without the optional extra installed.
"""

from __future__ import annotations

PREFIX = "mw/"  # family names are PREFIX + task name, e.g. "mw/pick-place-v3"
CHARSET = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.'-")  # the tabletop's

MT10: tuple[str, ...] = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)

INSTRUCTIONS: dict[str, str] = {
    # MT10
    "reach-v3": "move the gripper to the goal",
    "push-v3": "push the puck to the goal",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "door-open-v3": "open the door",
    "drawer-open-v3": "pull the drawer open",
    "drawer-close-v3": "push the drawer closed",
    "button-press-topdown-v3": "press the button from the top",
    "peg-insert-side-v3": "insert the peg into the hole sideways",
    "window-open-v3": "slide the window open",
    "window-close-v3": "slide the window closed",
    # the other 40 tasks of MT50
    "assembly-v3": "pick up the nut and place it onto the peg",
    "basketball-v3": "dunk the ball into the basket",
    "bin-picking-v3": "move the puck from one bin into the other bin",
    "box-close-v3": "grasp the lid and close the box with it",
    "button-press-topdown-wall-v3": "reach past the wall and press the button from the top",
    "button-press-v3": "press the button",
    "button-press-wall-v3": "reach past the wall and press the button",
    "coffee-button-v3": "press the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine",
    "dial-turn-v3": "rotate the dial half a turn",
    "disassemble-v3": "lift the nut off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by turning the lock clockwise",
    "door-unlock-v3": "unlock the door by turning the lock counter-clockwise",
    "hand-insert-v3": "put the gripper into the hole",
    "faucet-open-v3": "turn the faucet counter-clockwise",
    "faucet-close-v3": "turn the faucet clockwise",
    "hammer-v3": "hammer the screw into the wall",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up a quarter turn",
    "pick-place-wall-v3": "pick up the puck, lift it over the wall and place it at the goal",
    "pick-out-of-hole-v3": "pick the puck up out of the hole",
    "plate-slide-v3": "slide the plate into the cabinet",
    "plate-slide-side-v3": "slide the plate sideways into the cabinet",
    "plate-slide-back-v3": "slide the plate back out of the cabinet",
    "plate-slide-back-side-v3": "slide the plate sideways out of the cabinet",
    "peg-unplug-side-v3": "unplug the peg sideways",
    "soccer-v3": "kick the ball into the goal",
    "stick-push-v3": "grasp the stick and push the box with it",
    "stick-pull-v3": "grasp the stick and pull the box with it",
    "push-wall-v3": "push the puck around the wall to the goal",
    "push-back-v3": "pull the puck back to the goal",
    "reach-wall-v3": "reach past the wall to the goal",
    "shelf-place-v3": "pick up the puck and place it on the shelf",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
}

TASKS: tuple[str, ...] = tuple(INSTRUCTIONS)  # all 50 Meta-World V3 tasks (MT50)
FAMILIES: tuple[str, ...] = tuple(PREFIX + name for name in TASKS)
MT10_FAMILIES: tuple[str, ...] = tuple(PREFIX + name for name in MT10)


def is_metaworld_family(family) -> bool:
    """Whether a family name addresses Meta-World (it starts with "mw/"), valid or not."""
    return isinstance(family, str) and family.startswith(PREFIX)
