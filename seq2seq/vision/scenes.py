"""Generated scenes: a few coloured shapes on a 3 x 3 layout, drawn as real images.

A scene is what is in it (``Scene``: shapes, colours, cells), so captions and questions about it
can be generated exactly; ``draw`` makes the picture a model sees. Each thing sits in its own cell
of a 3 x 3 layout, jittered in position and size within the cell; the background is a tinted
gradient with noise, all from the drawing seed, so a seed always gives the same picture.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
ROWS = ("top", "middle", "bottom")
COLS = ("left", "centre", "right")
RGB = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 210, 40)}


@dataclass(frozen=True)
class Thing:
    """One shape in a cell of the layout: ``row`` 0..2 top to bottom, ``col`` 0..2 left to right."""

    shape: str
    colour: str
    row: int
    col: int


@dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]

    def to_dict(self) -> dict:
        return {"things": [asdict(t) for t in self.things]}

    @classmethod
    def from_dict(cls, raw: dict) -> Scene:
        return cls(tuple(Thing(**t) for t in raw["things"]))


def place(thing: Thing) -> str:
    """Where a thing is, in words: "top left", "top", "left", "centre", "bottom right", ..."""
    row, col = ROWS[thing.row], COLS[thing.col]
    if row == "middle":
        return "centre" if col == "centre" else col
    return row if col == "centre" else f"{row} {col}"


def random_scene(rng: random.Random, min_things: int = 1, max_things: int = 4) -> Scene:
    """Between ``min_things`` and ``max_things`` things, each in its own cell, shapes and colours
    drawn uniformly; ordered by cell (row-major)."""
    count = rng.randint(min_things, max_things)
    cells = sorted(rng.sample(range(9), count))
    return Scene(tuple(Thing(rng.choice(SHAPES), rng.choice(COLOURS), c // 3, c % 3) for c in cells))


def draw(scene: Scene, size: int = 224, seed: int = 0) -> np.ndarray:
    """The picture of ``scene``: (size, size, 3) uint8 RGB. Drawn at twice the size and scaled
    down, for smooth edges."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    big = 2 * size
    tint = np.array([rng.uniform(150, 245) for _ in range(3)])
    ramp = np.linspace(-25, 25, big)[:, None, None] * rng.choice((-1, 1))
    ground = np.clip(tint[None, None, :] + ramp + np.zeros((big, big, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(ground)
    pen = ImageDraw.Draw(image)
    cell = big / 3
    for thing in scene.things:
        radius = cell * rng.uniform(0.26, 0.38)
        cx = (thing.col + 0.5) * cell + rng.uniform(-0.1, 0.1) * cell
        cy = (thing.row + 0.5) * cell + rng.uniform(-0.1, 0.1) * cell
        shade = np.clip(np.array(RGB[thing.colour]) + [rng.uniform(-20, 20) for _ in range(3)], 0, 255)
        fill = tuple(int(v) for v in shade)
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        if thing.shape == "circle":
            pen.ellipse(box, fill=fill)
        elif thing.shape == "square":
            r = radius * 0.85
            pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            pen.polygon(
                [(cx, cy - radius), (cx + radius, cy + 0.8 * radius), (cx - radius, cy + 0.8 * radius)], fill=fill
            )
    pixels = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0, 4, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def write_scenes(
    out_dir: str | Path, count: int, seed: int = 0, size: int = 224, prefix: str = "scene", **kwargs
) -> list[tuple[Path, Scene]]:
    """Write ``count`` scenes as ``PREFIX-NNNN.png`` files and ``scenes.jsonl`` (one
    ``{"image": name, "scene": {...}}`` per line) into ``out_dir``; ``kwargs`` go to
    ``random_scene``. Files appear under their final names only when complete."""
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written, lines = [], []
    for i in range(count):
        scene = random_scene(rng, **kwargs)
        path = out / f"{prefix}-{i:04d}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        Image.fromarray(draw(scene, size, seed=rng.randrange(2**31))).save(tmp, format="PNG")
        tmp.replace(path)
        written.append((path, scene))
        lines.append(json.dumps({"image": path.name, "scene": scene.to_dict()}))
    index = out / "scenes.jsonl"
    tmp = index.with_name(".scenes.jsonl.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(index)
    return written


def read_scenes(folder: str | Path) -> list[tuple[Path, Scene]]:
    """The (image, scene) pairs a ``write_scenes`` folder lists in its ``scenes.jsonl``."""
    folder = Path(folder)
    pairs = []
    for line in (folder / "scenes.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            pairs.append((folder / raw["image"], Scene.from_dict(raw["scene"])))
    return pairs
