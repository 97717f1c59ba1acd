"""Labelled clips for the demo and tests, written as real encoded video with PyAV.

Each clip shows one object on a background: it appears (grows in place), then alternates between
moving (sliding and bouncing, with a motion trail) and changing (striped, its colours flickering in
place), then leaves (fades while sliding out of the frame); the scene may be empty before and
after. Each phase is a label. Lengths, speeds,
sizes, shapes, colours, backgrounds, frame rates and noise vary from clip to clip, all drawn from
the clip's seed, so a seed always gives the same clip.

Next to ``NAME.mp4`` it writes the ground truth twice, as the two label formats the recipe reads:
``NAME.txt`` (one label per frame) and ``NAME.csv`` (segments ``start,end,label`` in seconds).
"""

from __future__ import annotations

import colorsys
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from seq2seq.checkpoint import atomic_write

LABELS = ("background", "appear", "move", "change", "leave")


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


def render(rng: random.Random, style: ClipStyle, plan: list[tuple[str, int]], noise_seed: int) -> Iterator[np.ndarray]:
    """Frames (size, size, 3) uint8 RGB of the whole plan, in order.

    Each phase has its own look, as the steps of a real activity do: the object grows in solid
    (appear), slides with a motion trail (move), turns striped with flickering colours in place
    (change), and fades while sliding out of the frame (leave)."""
    noise_rng = np.random.default_rng(noise_seed)
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


@dataclass
class Clip:
    """What ``write_clip`` wrote: the video, its label files and the truth they hold."""

    video: Path
    frame_labels: Path
    segments: Path
    labels: list[str]  # one per encoded frame
    times: list[float]  # each frame's time in seconds from the first frame
    fps: float


def write_clip(
    path: str | Path, seed: int, size: int = 96, fps: float | None = None, vfr: bool = False, codec: str = "libx264"
) -> Clip:
    """Encode one labelled clip to ``path`` (container from the suffix: .mp4, .mkv, .webm, .avi)
    and write its ``.txt`` and ``.csv`` label files beside it. ``fps`` None draws a rate from
    10-25; ``vfr`` gives frames irregular durations (variable frame rate)."""
    import av

    path = Path(path)
    rng = random.Random(seed)
    fps = fps or rng.choice((10, 12, 15, 20, 25))
    style = clip_style(rng, size)
    plan = phase_plan(rng, fps)
    labels = [label for label, n in plan for _ in range(n)]
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
            for k, (img, ms) in enumerate(zip(render(rng, style, plan, seed), times_ms, strict=True)):
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
    return Clip(path, txt, csv, labels, times, float(fps))


def write_clips(out_dir: str | Path, count: int, seed: int = 0, prefix: str = "clip", **kwargs) -> list[Clip]:
    """``count`` clips ``PREFIX_NNN.mp4`` (+ label files) with seeds seed, seed+1, ..."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_clip(out_dir / f"{prefix}_{seed + i:04d}.mp4", seed + i, **kwargs) for i in range(count)]
