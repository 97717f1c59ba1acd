"""Reference captions of generated scenes (``seq2seq.vision.scenes``): what is where, in words.

The things of a scene are grouped by colour and shape, each group counted ("a", "two", ...) and
placed ("at the top left", "on the right", "along the top", "at the top left and the bottom
right"). Every scene gets several references that say the same in other words and orders, so a
caption is scored against all the ways it could be right:

    a red circle at the top left and two blue squares on the right
    two blue squares on the right and a red circle at the top left
    there is a red circle at the top left and there are two blue squares on the right
    a picture of a red circle in the top left corner and two blue squares on the right

A caption can only be right about positions if the model looks at the right place.
"""

from __future__ import annotations

from seq2seq.vision.scenes import COLS, ROWS, Scene, Thing, place

COUNTS = ("no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Where a whole row or column of a group is, in words.
ROW_WORDS = {"top": "along the top", "middle": "across the middle", "bottom": "along the bottom"}
COL_WORDS = {"left": "on the left", "centre": "down the centre", "right": "on the right"}


def where_one(thing: Thing, corners: bool = False) -> str:
    """Where one thing is: "at the top left" (``corners``: "in the top left corner"), "on the
    left", "at the top", "in the centre"."""
    p = place(thing)
    if p == "centre":
        return "in the centre"
    if p in ("left", "right"):
        return f"on the {p}"
    if " " in p and corners:
        return f"in the {p} corner"
    return f"at the {p}"


def where_many(things: list[Thing], corners: bool = False) -> str:
    """Where several things of one kind are: a shared row or column, else each place."""
    rows, cols = {t.row for t in things}, {t.col for t in things}
    if len(rows) == 1:
        return ROW_WORDS[ROWS[rows.pop()]]
    if len(cols) == 1:
        return COL_WORDS[COLS[cols.pop()]]
    places = [where_one(t, corners).split(" ", 1)[1] for t in things]  # "the top left", ...
    return "at " + " and ".join(places)


def groups(scene: Scene) -> list[list[Thing]]:
    """The scene's things grouped by (colour, shape), in the order their first thing appears
    (row-major cell order)."""
    found: dict[tuple[str, str], list[Thing]] = {}
    for thing in sorted(scene.things, key=lambda t: (t.row, t.col)):
        found.setdefault((thing.colour, thing.shape), []).append(thing)
    return list(found.values())


def phrase(group: list[Thing], corners: bool = False) -> str:
    """ "two blue squares on the right" """
    n, first = len(group), group[0]
    noun = first.shape if n == 1 else f"{first.shape}s"
    where = where_one(first, corners) if n == 1 else where_many(group, corners)
    return f"{COUNTS[n]} {first.colour} {noun} {where}"


def join(parts: list[str]) -> str:
    """ "a, b and c" """
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def describe(scene: Scene) -> list[str]:
    """The reference captions of a scene (4, distinct when the scene allows), the plainest first."""
    gs = groups(scene)
    plain = [phrase(g) for g in gs]
    there = [("there is " if len(g) == 1 else "there are ") + phrase(g) for g in gs]
    refs = [
        join(plain),
        join(plain[::-1]) if len(gs) > 1 else f"one {phrase(gs[0]).split(' ', 1)[1]}" if len(gs[0]) == 1 else
        f"{phrase(gs[0])} in the picture",
        join(there),
        "a picture of " + join([phrase(g, corners=True) for g in gs]),
    ]  # fmt: skip
    return refs
