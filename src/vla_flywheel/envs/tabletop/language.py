"""Instruction templates, paraphrases and the train/held-out split.

Each family has several paraphrases of one template. The last paraphrases of each family are held out, and so is a
fixed fifth of the colour-object combinations (which block goes where), so `split="heldout"` asks a policy for
combinations and wordings it never saw in training. Held-out paraphrases deliberately use words absent from the
training corpus ("cube", "target", "set") to test how a tokenizer copes with unseen words.
"""

from __future__ import annotations

from vla_flywheel.envs.tabletop.scene import COLOURS

FAMILIES: tuple[str, ...] = ("pick_place", "place_grid", "place_relative", "stack")
SPLITS: tuple[str, ...] = ("train", "heldout")

# 3x3 grid of the workspace, seen from the front camera: "top" is far from the camera (+y), "left" is -x.
GRID_ROWS = ("top", "center", "bottom")  # +y, 0, -y
GRID_COLS = ("left", "center", "right")  # -x, 0, +x


def region_name(row: int, col: int) -> str:
    """'top left', ..., 'center', ..., 'bottom right' (row, col index GRID_ROWS/GRID_COLS)."""
    r, c = GRID_ROWS[row], GRID_COLS[col]
    if r == c == "center":
        return "center"
    return f"{r} {c}" if r != "center" else f"center {c}"


REGIONS: tuple[str, ...] = tuple(region_name(r, c) for r in range(3) for c in range(3))

# relation -> (phrase, unit direction in table xy or None for "any side")
RELATIONS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "left": ("to the left of", (-1.0, 0.0)),
    "right": ("to the right of", (1.0, 0.0)),
    "front": ("in front of", (0.0, -1.0)),
    "behind": ("behind", (0.0, 1.0)),
    "next_to": ("next to", None),
}

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "pick_place": {
        "train": (
            "put the {block} block on the {target} pad",
            "place the {block} block onto the {target} pad",
            "move the {block} block to the {target} pad",
            "pick up the {block} block and put it on the {target} pad",
        ),
        "heldout": (
            "set the {block} cube down on the {target} target",
            "get the {block} block onto the {target} pad",
        ),
    },
    "place_grid": {
        "train": (
            "put the {block} block in the {target} of the table",
            "move the {block} block to the {target} of the table",
            "place the {block} block at the {target} of the table",
            "pick up the {block} block and put it in the {target} of the table",
        ),
        "heldout": (
            "set the {block} cube down in the {target} area",
            "slide the {block} block over to the {target}",
        ),
    },
    "place_relative": {
        "train": (
            "put the {block} block {target} the {ref} block",
            "place the {block} block {target} the {ref} block",
            "move the {block} block {target} the {ref} block",
            "pick up the {block} block and put it {target} the {ref} block",
        ),
        "heldout": (
            "set the {block} cube down {target} the {ref} cube",
            "get the {block} block {target} the {ref} one",
        ),
    },
    "stack": {
        "train": (
            "stack the {block} block on the {target} block",
            "put the {block} block on top of the {target} block",
            "place the {block} block onto the {target} block",
            "pick up the {block} block and stack it on the {target} block",
        ),
        "heldout": (
            "set the {block} cube down on top of the {target} cube",
            "pile the {block} block on the {target} one",
        ),
    },
}


def target_choices(family: str) -> tuple[str, ...]:
    """The second slot of a family's combination: a pad colour, a region, a relation or a block colour."""
    if family == "place_grid":
        return REGIONS
    if family == "place_relative":
        return tuple(RELATIONS)
    return COLOURS


def is_heldout_combination(family: str, block: str, target: str) -> bool:
    """A fixed fifth of (block colour, target) pairs per family, never shown in training."""
    b = COLOURS.index(block)
    t = target_choices(family).index(target)
    return (3 * b + 2 * t + FAMILIES.index(family)) % 5 == 0


def instruction(family: str, paraphrase: str, block: str, target: str, ref: str | None) -> str:
    """Fill a template; for place_relative `target` is a relation key and `ref` the reference block's colour."""
    if family == "place_relative":
        return paraphrase.format(block=block, target=RELATIONS[target][0], ref=ref)
    return paraphrase.format(block=block, target=target)


def corpus() -> list[str]:
    """Every word pattern of the training split (paraphrases x colours x targets), for building tokenizers."""
    out = []
    for family, splits in TEMPLATES.items():
        for paraphrase in splits["train"]:
            for block in COLOURS:
                for target in target_choices(family):
                    ref = COLOURS[(COLOURS.index(block) + 1) % len(COLOURS)]
                    if family == "stack" and target == block:
                        continue
                    out.append(instruction(family, paraphrase, block, target, ref))
    return out
