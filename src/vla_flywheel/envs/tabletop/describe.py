"""Ground-truth action-to-language (A2L): what a pick/place did, in words.

Following LACY (papers.md §1.1), a placement is described relative to the nearest other object when it lands
close to one, and by its absolute region of the table otherwise. Distances are in normalized table units (1.0 =
0.25 m), with LACY's thresholds: within D_ON (0.15) of an object the block is *on* it (a pad, or stacked on a
block); within D_REL (0.3) it is left of / right of / in front of / behind it; farther, the 3x3 grid region names
it. These sentences are the training targets of the explainer and the positives of the consistency verifier;
`parse_description` reads one back into its meaning (how an explainer's words are scored) and `near_misses` makes
the hard negatives a verifier must reject.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from vla_flywheel.envs.tabletop.language import REGIONS, RELATIONS
from vla_flywheel.envs.tabletop.scene import COLOURS, WORKSPACE_HALF
from vla_flywheel.envs.tabletop.tasks import Scene, region_of

D_ON = 0.15
D_REL = 0.30
PICK_RADIUS = 0.03  # metres: a pick point this close to a block's centre grasps that block


def picked_block(scene_xy: np.ndarray, pick_xy: np.ndarray) -> int | None:
    """Index of the block under a pick point (metres), or None when the gripper would close on air."""
    if len(scene_xy) == 0:
        return None
    d = np.linalg.norm(scene_xy - pick_xy, axis=1)
    i = int(np.argmin(d))
    return i if d[i] <= PICK_RADIUS else None


def describe_placement(
    scene: Scene, block: int | None, place_xy: np.ndarray, block_xy: np.ndarray | None = None
) -> str:
    """One sentence for moving `block` to `place_xy` (metres); other blocks at `block_xy` (defaults to the scene's)."""
    xy = scene.block_xy if block_xy is None else block_xy
    region = Meaning(None if block is None else scene.block_colours[block], "region", region_of(place_xy))
    if block is None:
        return render_description(region)
    others = [(f"{scene.block_colours[i]} block", xy[i], "stack") for i in range(len(xy)) if i != block]
    others += [(f"{c} pad", p, "on") for c, p in zip(scene.pad_colours, scene.pad_xy, strict=True)]
    if others:
        dist = [np.linalg.norm(place_xy - p) / WORKSPACE_HALF for _, p, _ in others]
        k = int(np.argmin(dist))
        other, where, on = others[k]
        if dist[k] < D_ON:
            return render_description(region._replace(relation=on, reference=other))
        if dist[k] < D_REL:
            dx, dy = place_xy - where
            relation = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("behind" if dy > 0 else "front")
            return render_description(region._replace(relation=relation, reference=other))
    return render_description(region)


class Meaning(NamedTuple):
    """What a description says: which block moved, how (on / stack / a relation / a region) and relative to what."""

    block: str | None  # colour, or None for "pick up nothing"
    relation: str  # "on", "stack", a RELATIONS key, or "region"
    reference: str  # "<colour> pad", "<colour> block", or a region name


_RELATION_BY_PHRASE = {phrase: key for key, (phrase, _) in RELATIONS.items()}
_PATTERNS = (
    (re.compile(r"^pick up nothing and move to the (?P<ref>[a-z ]+?) of the table$"), None),
    (re.compile(r"^put the (?P<block>\w+) block on the (?P<ref>\w+ pad)$"), "on"),
    (re.compile(r"^stack the (?P<block>\w+) block on the (?P<ref>\w+ block)$"), "stack"),
    (re.compile(r"^put the (?P<block>\w+) block in the (?P<ref>[a-z ]+?) of the table$"), "region"),
    (
        re.compile(
            rf"^put the (?P<block>\w+) block (?P<rel>{'|'.join(_RELATION_BY_PHRASE)}) the (?P<ref>\w+ (?:block|pad))$"
        ),
        "",
    ),
)


def parse_description(text: str) -> Meaning | None:
    """Invert `describe_placement`: the meaning of a generated sentence, or None when it is not well formed."""
    text = " ".join(text.lower().split())
    for pattern, relation in _PATTERNS:
        match = pattern.match(text)
        if match is None:
            continue
        groups = match.groupdict()
        if relation is None:
            return Meaning(None, "region", groups["ref"]) if groups["ref"] in REGIONS else None
        if relation == "":
            relation = _RELATION_BY_PHRASE[groups["rel"]]
        if groups["block"] not in COLOURS or (relation == "region" and groups["ref"] not in REGIONS):
            return None
        return Meaning(groups["block"], relation, groups["ref"])
    return None


def render_description(meaning: Meaning) -> str:
    """`parse_description`'s inverse: the sentence `describe_placement` writes for a meaning."""
    if meaning.block is None:
        return f"pick up nothing and move to the {meaning.reference} of the table"
    name = f"the {meaning.block} block"
    if meaning.relation == "region":
        return f"put {name} in the {meaning.reference} of the table"
    if meaning.relation == "on":
        return f"put {name} on the {meaning.reference}"
    if meaning.relation == "stack":
        return f"stack {name} on the {meaning.reference}"
    return f"put {name} {RELATIONS[meaning.relation][0]} the {meaning.reference}"


def near_misses(text: str, colours: list[str], rng: np.random.Generator) -> list[tuple[str, str]]:
    """Hard negatives for a description: (kind, sentence) with a wrong colour, a wrong relation or a neighbouring
    region; `colours` are the scene's colours (a near miss names something that is there)."""
    meaning = parse_description(text)
    if meaning is None or meaning.block is None:
        return []
    out = []
    taken = {meaning.block, meaning.reference.split()[0] if meaning.reference.endswith("block") else None}
    others = [c for c in colours if c not in taken]
    if others:
        out.append(("wrong colour", render_description(meaning._replace(block=str(rng.choice(others))))))
    if meaning.relation == "region":
        row, col = divmod(REGIONS.index(meaning.reference), 3)
        steps = [
            (row + dr, col + dc)
            for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0))
            if 0 <= row + dr < 3 and 0 <= col + dc < 3
        ]
        r, c = steps[int(rng.integers(len(steps)))]
        out.append(("neighbouring region", render_description(meaning._replace(reference=REGIONS[r * 3 + c]))))
    elif meaning.relation in RELATIONS:
        relations = [r for r in ("left", "right", "front", "behind") if r != meaning.relation]
        out.append(("wrong relation", render_description(meaning._replace(relation=str(rng.choice(relations))))))
    else:
        kind = meaning.reference.split()[1]
        refs = [c for c in colours if f"{c} {kind}" != meaning.reference and c != meaning.block]
        if refs:
            reference = f"{rng.choice(refs)} {kind}"
            out.append(("wrong reference", render_description(meaning._replace(reference=reference))))
    return out


def explanation_corpus() -> list[str]:
    """One sentence per description pattern and colour, for building tokenizers that can say every explanation."""
    out = []
    for colour in COLOURS:
        for region in REGIONS:
            out += [
                render_description(Meaning(colour, "region", region)),
                render_description(Meaning(None, "region", region)),
            ]
        out += [
            render_description(Meaning(colour, "on", f"{colour} pad")),
            render_description(Meaning(colour, "stack", f"{colour} block")),
        ]
        out += [render_description(Meaning(colour, relation, f"{colour} block")) for relation in RELATIONS]
    return out
