"""Labelled clips for the demo and tests, written as real encoded video with PyAV.

Each clip shows one object on a background: it appears (grows in place), then alternates between
moving and changing in place, then leaves through the border; the scene may be empty before and
after. Each phase is a label. Lengths, speeds, sizes, shapes, colours, backgrounds, frame rates and
noise vary from clip to clip, all drawn from the clip's seed, so a seed always gives the same clip.

Two families of scenes tell the same story with a different look, to check that a labeller
trained on one generalises to the other:

- ``flat`` (the default): a solid circle, square or diamond on a muted flat background with a
  gradient; it moves in straight lines, bouncing, with a motion trail; it changes by turning
  striped, its colours flickering; it fades while sliding out.
- ``textured``: a ring, cross or triangle on a bright textured background (checkerboard, wood
  grain or soft blobs), filmed by a shaky camera (jitter, brightness flicker, blur, grain); it
  moves along curved paths without a trail; it changes by spinning with a dotted pattern whose
  hue drifts and a pulsing size; it shrinks while sliding out.

Next to ``NAME.mp4`` it writes the ground truth twice, as the two label formats the recipe reads:
``NAME.txt`` (one label per frame) and ``NAME.csv`` (segments ``start,end,label`` in seconds).
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write

LABELS = ("background", "appear", "move", "change", "leave")
EXITS = ("left", "right", "top", "bottom")  # the border the object leaves through
FAMILIES = ("flat", "textured")


@dataclass
class ClipStyle:
    """The look of one clip, drawn from its seed."""

    size: int
    background: np.ndarray  # (3,) float RGB 0..255
    gradient: np.ndarray  # (size, size, 3) float added to the background
    shape: str  # circle | square | diamond
    radius: float
    hue: float  # 0..1
    noise: float  # pixel noise standard deviation


def _rgb(hue: float, sat: float = 0.85, val: float = 0.95) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val)) * 255.0


def phase_plan(rng: random.Random, fps: float) -> list[tuple[str, int]]:
    """The clip's phases as (label, frames): [background], appear, (move | change)+, leave, [background]."""

    def frames(lo: float, hi: float) -> int:
        return max(3, round(rng.uniform(lo, hi) * fps))

    plan = []
    if rng.random() < 0.8:
        plan.append(("background", frames(0.6, 2.0)))
    plan.append(("appear", frames(0.8, 1.6)))
    first = rng.choice(("move", "change"))
    for i in range(rng.randint(1, 3)):
        label = first if i % 2 == 0 else ("change" if first == "move" else "move")
        plan.append((label, frames(1.0, 3.0)))
    plan.append(("leave", frames(0.8, 1.6)))
    if rng.random() < 0.8:
        plan.append(("background", frames(0.6, 2.0)))
    return plan


def _mask(style: ClipStyle, cx: float, cy: float, r: float) -> np.ndarray:
    """(size, size) float coverage of the object centred at (cx, cy) with radius r."""
    y, x = np.mgrid[0 : style.size, 0 : style.size].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    if style.shape == "circle":
        d = np.sqrt(dx * dx + dy * dy) - r
    elif style.shape == "square":
        d = np.maximum(np.abs(dx), np.abs(dy)) - r * 0.85
    else:
        d = (np.abs(dx) + np.abs(dy)) - r * 1.2
    return np.clip(0.5 - d, 0.0, 1.0)  # anti-aliased edge


def _stripes(size: int, angle: float, period: float, phase: float) -> np.ndarray:
    """(size, size, 1) 0/1 stripe pattern."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return (np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period + phase) > 0)[..., None]


def render(
    rng: random.Random,
    style: ClipStyle,
    plan: list[tuple[str, int]],
    noise_seed: int,
    hues: Sequence[float] | None = None,
    notes: dict | None = None,
) -> Iterator[np.ndarray]:
    """Frames (size, size, 3) uint8 RGB of the whole plan, in order.

    Each phase has its own look, as the steps of a real activity do: the object grows in solid
    (appear), slides with a motion trail (move), turns striped with flickering colours in place
    (change), and fades while sliding out of the frame (leave). The object keeps the hue the
    flicker ends on, or, with ``hues``, takes ``hues[k]`` after its k-th change (so a caption
    can name it). ``notes``, when given, gets ``exit``: the border it leaves through (EXITS)."""
    noise_rng = np.random.default_rng(noise_seed)
    after_change = iter(hues or ())
    size, r = style.size, style.radius
    x, y = rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2)
    hue = style.hue
    speed = rng.uniform(2.0, 3.5) * size / 96
    angle = rng.uniform(0, 2 * math.pi)
    vx, vy = speed * math.cos(angle), speed * math.sin(angle)
    hue_jump = rng.uniform(0.35, 0.5)  # per frame while changing: the colours flicker
    stripe_angle, period = rng.uniform(0, math.pi), rng.uniform(0.5, 0.7) * r
    base = style.background[None, None, :] + style.gradient
    for label, n in plan:
        if label == "leave":  # slide out through the nearest border
            exits = [(-1, 0, x), (1, 0, size - x), (0, -1, y), (0, 1, size - y)]
            ex, ey, dist = min(exits, key=lambda e: e[2])
            step = (dist + 0.8 * r) / n  # still partly in view on its last frame
            vx_leave, vy_leave = ex * step, ey * step
            if notes is not None:
                notes["exit"] = EXITS[[(-1, 0), (1, 0), (0, -1), (0, 1)].index((ex, ey))]
        for i in range(n):
            img = base.copy()

            def paint(colour: np.ndarray, cx: float, cy: float, radius: float, alpha: float) -> None:
                nonlocal img
                m = _mask(style, cx, cy, radius)[..., None] * alpha
                img = img * (1 - m) + colour * m

            colour = _rgb(hue)[None, None, :]
            if label == "appear":
                paint(colour, x, y, r * (0.3 + 0.7 * (i + 1) / n), 1.0)
            elif label == "move":
                x, y = x + vx, y + vy
                if not r <= x <= size - r:
                    vx, x = -vx, min(max(x, r), size - r)
                if not r <= y <= size - r:
                    vy, y = -vy, min(max(y, r), size - r)
                for k in (4, 3, 2, 1):  # the trail: fainter copies where it just was
                    paint(colour, x - 2 * k * vx, y - 2 * k * vy, r, 0.6 - 0.12 * k)
                paint(colour, x, y, r, 1.0)
            elif label == "change":
                hue += hue_jump
                stripes = _stripes(size, stripe_angle, period, i * 0.6)
                paint(np.where(stripes, _rgb(hue)[None, None, :], _rgb(hue + 0.3)[None, None, :]), x, y, r, 1.0)
            elif label == "leave":
                x, y = x + vx_leave, y + vy_leave
                paint(colour, x, y, r, 0.9 - 0.5 * (i + 1) / n)
            img += noise_rng.normal(0.0, style.noise, img.shape)
            yield np.clip(img, 0, 255).astype(np.uint8)
        if label == "change" and hues is not None:
            hue = next(after_change)


def clip_style(rng: random.Random, size: int) -> ClipStyle:
    bg_hue = rng.random()
    background = _rgb(bg_hue, rng.uniform(0.1, 0.4), rng.uniform(0.15, 0.45))  # muted, so the object stands out
    gy, gx = np.mgrid[0:size, 0:size] / size - 0.5
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (gx * math.cos(direction) + gy * math.sin(direction)) * rng.uniform(0, 40)
    return ClipStyle(
        size=size,
        background=background,
        gradient=np.repeat(ramp[..., None], 3, axis=2),
        shape=rng.choice(("circle", "square", "diamond")),
        radius=rng.uniform(0.18, 0.26) * size,
        hue=(bg_hue + rng.uniform(0.25, 0.75)) % 1.0,  # stands out from the background
        noise=rng.uniform(2.0, 8.0),
    )


def _texture(rng: random.Random, size: int) -> np.ndarray:
    """(size, size, 3) float RGB: a bright checkerboard, wood grain or soft blobs."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    hue = rng.random()
    a, b = _rgb(hue, rng.uniform(0.2, 0.5), rng.uniform(0.55, 0.8)), _rgb(hue + rng.uniform(0.05, 0.2), 0.4, 0.9)
    kind = rng.choice(("checker", "wood", "blobs"))
    if kind == "checker":
        cell = rng.uniform(0.06, 0.14) * size
        t = ((x // cell + y // cell) % 2)[..., None]
    elif kind == "wood":
        angle = rng.uniform(0, math.pi)
        u = x * math.cos(angle) + y * math.sin(angle)
        t = (0.5 + 0.5 * np.sin(u * 2 * math.pi / (rng.uniform(0.08, 0.2) * size) + 3 * np.sin(y / size * 5)))[
            ..., None
        ]
    else:
        t = np.zeros((size, size), np.float32)
        for _ in range(6):
            cx, cy, w = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.1, 0.3) * size
            t += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * w * w))
        t = (t / t.max())[..., None]
    return a[None, None, :] * (1 - t) + b[None, None, :] * t


def _outline_mask(shape: str, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """(size, size) float coverage of a ring, cross or triangle centred at (cx, cy), turned by ``angle``."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = c * dx + s * dy, -s * dx + c * dy
    if shape == "ring":
        d = np.abs(np.sqrt(dx * dx + dy * dy) - 0.75 * r) - 0.25 * r
    elif shape == "cross":
        arm = 0.3 * r
        d = np.minimum(np.maximum(np.abs(dx) - r, np.abs(dy) - arm), np.maximum(np.abs(dx) - arm, np.abs(dy) - r))
    else:  # an equilateral triangle pointing up
        d = np.maximum(np.abs(dx) * 0.866 + dy * 0.5, -dy) - 0.5 * r
    return np.clip(0.5 - d, 0.0, 1.0)


def render_textured(
    rng: random.Random, size: int, plan: list[tuple[str, int]], noise_seed: int
) -> Iterator[np.ndarray]:
    """Frames (size, size, 3) uint8 RGB of the plan in the ``textured`` family (module docstring)."""
    noise_rng = np.random.default_rng(noise_seed)
    base = _texture(rng, size)
    shape = rng.choice(("ring", "cross", "triangle"))
    r = rng.uniform(0.16, 0.24) * size
    hue = rng.random()
    grain, blur = rng.uniform(4.0, 12.0), rng.random() < 0.5
    x, y = rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2)
    speed, heading = rng.uniform(1.5, 3.0) * size / 96, rng.uniform(0, 2 * math.pi)
    turn = rng.choice((-1, 1)) * rng.uniform(0.06, 0.15)  # radians per frame: curved paths
    spin, angle = rng.choice((-1, 1)) * rng.uniform(0.15, 0.3), rng.uniform(0, math.pi)
    shake = np.zeros(2)
    yy, xx = np.mgrid[0:size, 0:size]
    for label, n in plan:
        if label == "leave":
            exits = [(-1, 0, x), (1, 0, size - x), (0, -1, y), (0, 1, size - y)]
            ex, ey, dist = min(exits, key=lambda e: e[2])
            step = (dist + 0.6 * r) / n
        for i in range(n):
            img = base.copy()
            colour, radius, alpha, pattern = _rgb(hue, 0.9, 0.85), r, 1.0, None
            if label == "appear":
                radius = r * (0.2 + 0.8 * (i + 1) / n)
            elif label == "move":
                heading += turn
                x, y = x + speed * math.cos(heading), y + speed * math.sin(heading)
                if not r <= x <= size - r:
                    heading, x = math.pi - heading, min(max(x, r), size - r)
                if not r <= y <= size - r:
                    heading, y = -heading, min(max(y, r), size - r)
            elif label == "change":
                hue += 0.06
                angle += spin
                radius = r * (1 + 0.15 * math.sin(i * 0.9))
                dots = ((xx // 4 + yy // 4) % 2 == 0)[..., None]
                pattern = np.where(dots, _rgb(hue, 0.9, 0.85)[None, None, :], _rgb(hue + 0.5, 0.6, 0.35)[None, None, :])
            elif label == "leave":
                x, y = x + ex * step, y + ey * step
                radius = r * (1 - 0.5 * (i + 1) / n)
            if label != "background":
                m = _outline_mask(shape, size, x, y, radius, angle)[..., None] * alpha
                paint = pattern if pattern is not None else colour[None, None, :]
                img = img * (1 - m) + paint * m
            shake = 0.7 * shake + noise_rng.normal(0.0, 1.2, 2)  # a hand-held camera
            img = np.roll(img, (int(round(shake[0])), int(round(shake[1]))), axis=(0, 1))
            img = img * (1 + noise_rng.normal(0.0, 0.05))  # exposure flicker
            if blur:
                img = (img + np.roll(img, 1, 0) + np.roll(img, 1, 1) + np.roll(img, (1, 1), (0, 1))) / 4
            img += noise_rng.normal(0.0, grain, img.shape)
            yield np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Clip:
    """What ``write_clip`` wrote: the video, its label files and the truth they hold."""

    video: Path
    frame_labels: Path
    segments: Path
    labels: list[str]  # one per encoded frame
    times: list[float]  # each frame's time in seconds from the first frame
    fps: float
    shape: str | None = None  # the object's shape (flat family)
    exit: str | None = None  # the border it leaves through (flat family): EXITS


def write_clip(
    path: str | Path,
    seed: int,
    size: int = 96,
    fps: float | None = None,
    vfr: bool = False,
    codec: str = "libx264",
    family: str = "flat",
    hues: Sequence[float] | None = None,
) -> Clip:
    """Encode one labelled clip to ``path`` (container from the suffix: .mp4, .mkv, .webm, .avi)
    and write its ``.txt`` and ``.csv`` label files beside it. ``fps`` None draws a rate from
    10-25; ``vfr`` gives frames irregular durations (variable frame rate); ``family``: the look of
    the scene, ``flat`` or ``textured`` (module docstring). ``hues`` (flat family): the object's
    hue (0..1) at first and after each change (three cover every plan: it has at most two
    changes; the ones left over are not used); the rest of the clip is the same as without them."""
    import av

    if family not in FAMILIES:
        raise ValueError(f"unknown family of scenes '{family}'; use one of {', '.join(FAMILIES)}")
    if hues is not None and family != "flat":
        raise ValueError("hues are for the flat family of scenes")
    path = Path(path)
    rng = random.Random(seed)
    fps = fps or rng.choice((10, 12, 15, 20, 25))
    style = clip_style(rng, size) if family == "flat" else None
    plan = phase_plan(rng, fps)
    labels = [label for label, n in plan for _ in range(n)]
    notes: dict = {}
    if hues is not None:
        changes = sum(label == "change" for label, _ in plan)
        if len(hues) <= changes:
            raise ValueError(f"clip {seed}: {len(hues)} hue(s) for {changes} change(s); give at least {changes + 1}")
        style.hue, hues = hues[0], hues[1:]
    # Timestamps in milliseconds; with vfr each frame lasts 0.5 to 1.5 nominal frames.
    times_ms, t = [], 0.0
    for _ in labels:
        times_ms.append(round(t))
        t += 1000 / fps * (rng.uniform(0.5, 1.5) if vfr else 1.0)
    end_ms = round(t)
    fmt = {".mp4": "mp4", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported container suffix; use .mp4, .mkv, .webm, .avi or .mov")
    if fmt == "avi" and vfr:
        raise ValueError(f"{path}: AVI has no per-frame timestamps; write a variable frame rate clip as .mp4 or .mkv")
    # AVI counts frames; the others keep millisecond timestamps (variable frame rate).
    tick = 1 / Fraction(fps).limit_denominator(1001) if fmt == "avi" else Fraction(1, 1000)
    if fmt == "webm" and codec == "libx264":
        codec = "libvpx-vp9"

    def encode(f) -> None:
        with av.open(f, "w", format=fmt) as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.time_base = stream.codec_context.time_base = tick
            if codec == "libx264":
                # small frames: one thread; AVI stores no reordered timestamps: no B-frames there
                stream.options = {"crf": "18", "preset": "veryfast", "threads": "1"}
                if fmt == "avi":
                    stream.options = {**stream.options, "bf": "0"}
            if style is not None:
                pictures = render(rng, style, plan, seed, hues, notes)
            else:
                pictures = render_textured(rng, size, plan, seed)
            for k, (img, ms) in enumerate(zip(pictures, times_ms, strict=True)):
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = (k if fmt == "avi" else ms), tick
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    atomic_write(path, encode)
    times = [ms / 1000 for ms in times_ms]
    txt, csv = path.with_suffix(".txt"), path.with_suffix(".csv")
    atomic_write(txt, lambda f: f.write("".join(f"{label}\n" for label in labels).encode()))
    rows, start = ["start,end,label"], 0
    for label, n in plan:
        stop = start + n
        rows.append(f"{times[start]:.3f},{(times_ms[stop] if stop < len(times) else end_ms) / 1000:.3f},{label}")
        start = stop
    atomic_write(csv, lambda f: f.write(("\n".join(rows) + "\n").encode()))
    return Clip(path, txt, csv, labels, times, float(fps), style.shape if style else None, notes.get("exit"))


def write_clips(out_dir: str | Path, count: int, seed: int = 0, prefix: str = "clip", **kwargs) -> list[Clip]:
    """``count`` clips ``PREFIX_NNN.mp4`` (+ label files) with seeds seed, seed+1, ..."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_clip(out_dir / f"{prefix}_{seed + i:04d}.mp4", seed + i, **kwargs) for i in range(count)]
