"""Interpretable units of a character model, as in the char-rnn visualisations (Karpathy et al.,
2015): the activation of chosen hidden / cell units drawn as the colour of each character they
read, and the units whose activation correlates most with simple properties of the text.

The model runs through the core's reference cells (``load_model(..., reference=True)``, same
weights) with ``ReferenceRNN.record`` on, which keeps every gate, cell and hidden value.
Activation t is the unit's value after reading character t; the properties are measured the
same way (after character t):

- ``inside_quotes``: an odd number of double quotes so far (straight or curly) -- 1, else 0
- ``line_position``: the character's column in its line (0 for the first)
- ``inside_brackets``: more ( [ { than ) ] } so far -- 1, else 0
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch

from seq2seq.checkpoint import atomic_write
from seq2seq.nn.rnn import ReferenceRNN
from seq2seq.plots import plt, save_figure
from seq2seq.text.vocab import CharVocab

PROPERTIES = ("inside_quotes", "line_position", "inside_brackets")
OPEN, CLOSE = "([{", ")]}"


def text_properties(text: str) -> dict[str, np.ndarray]:
    """Each property of PROPERTIES per character of ``text``, (time,) float arrays."""
    quotes = np.zeros(len(text))
    column = np.zeros(len(text))
    brackets = np.zeros(len(text))
    inside, col, depth = False, 0, 0
    for t, c in enumerate(text):
        if c == '"':
            inside = not inside
        elif c == "\u201c":
            inside = True
        elif c == "\u201d":
            inside = False
        depth = depth + 1 if c in OPEN else max(0, depth - 1) if c in CLOSE else depth
        quotes[t], column[t], brackets[t] = inside, col, depth > 0
        col = 0 if c == "\n" else col + 1
    return {"inside_quotes": quotes, "line_position": column, "inside_brackets": brackets}


@torch.no_grad()
def record(model: torch.nn.Module, vocab: CharVocab, text: str) -> dict[str, np.ndarray]:
    """Run a reference-cell language model over ``text``; returns {"layer L <state>": (time,
    hidden)} for every layer and recorded state (h, c, gates)."""
    rnn = model.rnn.rnn
    if not isinstance(rnn, ReferenceRNN):
        raise TypeError("record needs a model built with reference=True")
    device = next(model.parameters()).device
    rnn.record = True
    try:
        model(torch.tensor([vocab.encode(text)], device=device))
    finally:
        rnn.record = False
    return {
        f"layer {layer} {name}": values[0].float().cpu().numpy()
        for (layer, _), acts in sorted(rnn.activations.items())
        for name, values in acts.items()
    }


def correlations(acts: np.ndarray, properties: dict[str, np.ndarray], top: int) -> dict[str, list[tuple[int, float]]]:
    """For each property the ``top`` units of acts (time, hidden) by |Pearson r|, as (unit, r)."""
    a = acts - acts.mean(axis=0)
    a_norm = np.sqrt((a**2).sum(axis=0))
    out = {}
    for name, values in properties.items():
        v = values - values.mean()
        v_norm = np.sqrt((v**2).sum())
        if v_norm == 0:  # the property never changes in this text: nothing to correlate with
            out[name] = []
            continue
        r = (a * v[:, None]).sum(axis=0) / np.maximum(a_norm * v_norm, 1e-12)
        order = np.argsort(-np.abs(r))[:top]
        out[name] = [(int(u), float(r[u])) for u in order]
    return out


def colour_values(values: np.ndarray) -> np.ndarray:
    """A unit's activations (time,) mapped to [-1, 1] for colouring: the distance from the unit's
    median over the text, divided by the largest such distance. Cell values drift far from 0
    and gates live in (0, 1), so a fixed scale would paint most units one flat colour."""
    centred = values - np.median(values)
    scale = np.abs(centred).max()
    return centred / scale if scale > 0 else centred


def _rgb(v: float) -> str:
    """Blue for negative, red for positive, white at zero (as in the char-rnn figures)."""
    cmap = plt.get_cmap("bwr")
    r, g, b, _ = cmap((v + 1.0) / 2.0)
    return f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})"


def write_html(path: str | Path, text: str, panels: list[tuple[str, np.ndarray]]) -> Path:
    """One block per panel (title, a unit's activation per character), atomically written."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>seq2seq inspect</title><style>",
        "body{font-family:sans-serif} pre{font-family:monospace;font-size:14px;line-height:1.4;"
        "white-space:pre-wrap} span{padding:0 0.5px}</style></head><body>",
        "<p>Each character is coloured by the unit's activation after reading it, relative to the "
        "unit's median over the text (hover for the value): "
        f"<span style='background:{_rgb(-1.0)};color:white'>&nbsp;below&nbsp;</span> ... "
        f"<span style='background:{_rgb(0.0)}'>&nbsp;median&nbsp;</span> ... "
        f"<span style='background:{_rgb(1.0)};color:white'>&nbsp;above&nbsp;</span></p>",
    ]
    for title, values in panels:
        parts.append(f"<h3>{html.escape(title)}</h3><pre>")
        for c, v, raw in zip(text, colour_values(values), values, strict=True):
            shown = html.escape(c) if c != "\n" else "\u21b5\n"
            parts.append(f"<span style='background:{_rgb(float(v))}' title='{raw:+.3f}'>{shown}</span>")
        parts.append("</pre>")
    parts.append("</body></html>\n")
    atomic_write(path, lambda f: f.write("".join(parts).encode("utf-8")))
    return Path(path)


def write_png(path: str | Path, text: str, panels: list[tuple[str, np.ndarray]], columns: int = 80) -> Path:
    """The same as the HTML page as a figure: one grid of coloured characters per panel, lines
    wrapped at ``columns``."""
    cells: list[tuple[int, int, str]] = []  # (row, column, character) with the character's index implied
    row = col = 0
    for c in text:
        cells.append((row, col, c))
        if c == "\n" or col + 1 >= columns:
            row, col = row + 1, 0
        else:
            col += 1
    rows = row + 1
    fig, axes = plt.subplots(len(panels), 1, figsize=(columns * 0.11 + 0.5, len(panels) * (rows * 0.2 + 0.6)))
    axes = np.atleast_1d(axes)
    for ax, (title, values) in zip(axes, panels, strict=True):
        grid = np.full((rows, columns), np.nan)
        for (r, c, _), v in zip(cells, colour_values(values), strict=True):
            grid[r, c] = v
        ax.imshow(grid, cmap="bwr", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        for r, c, ch in cells:
            if ch.strip():
                ax.text(c, r, ch, ha="center", va="center", fontsize=7, family="monospace")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def inspect_units(
    loaded, text: str, out: Path, where: str = "text", layer: int = -1, state: str = "",
    units: list[int] | None = None, top: int = 5,
) -> dict:  # fmt: skip
    """Run a character model (``loaded`` with reference cells) over ``text``, find the units of one
    state (``layer``, ``state``: h, c or a gate; default c for an LSTM) that best follow each text
    property, and draw them (``units``, or the best per property) into out/inspect.html and
    inspect.png; out/units.json holds the ranking. Returns that report."""
    import json

    from seq2seq.errors import UserError

    loaded.task.vocab.check(text, where, strict=False)
    recorded = record(loaded.model, loaded.task.vocab, text)
    m = loaded.cfg.model
    index = layer if layer >= 0 else m.layers + layer
    state = state or ("c" if m.cell == "lstm" else "h")
    key = f"layer {index} {state}"
    if key not in recorded:
        names = sorted({k.split()[-1] for k in recorded})
        raise UserError(f"no '{state}' in layer {layer} of this {m.cell} model ({m.layers} layers); "
                        f"states: {', '.join(names)}")  # fmt: skip
    acts = recorded[key]
    found = correlations(acts, text_properties(text), top)
    chosen = list(units or [])
    bad = [u for u in chosen if not 0 <= u < acts.shape[1]]
    if bad:
        raise UserError(f"--units: {bad} out of range; layer {index} has units 0..{acts.shape[1] - 1}")
    if not chosen:
        chosen = list(dict.fromkeys(best[0][0] for best in found.values() if best))
    best_for = {u: (p, r) for p, ranked in found.items() for u, r in ranked[:1]}
    panels = []
    for u in chosen:
        note = f"  (r = {best_for[u][1]:+.2f} with {best_for[u][0]})" if u in best_for else ""
        panels.append((f"{key} unit {u}{note}", acts[:, u]))
    html_path = write_html(out / "inspect.html", text, panels)
    png_path = write_png(out / "inspect.png", text[:1200], [(t, v[:1200]) for t, v in panels])
    report = {
        "state": key,
        "characters": len(text),
        "top_units": {p: [{"unit": u, "r": r} for u, r in v] for p, v in found.items()},
        "drawn": chosen,
    }
    atomic_write(out / "units.json", lambda f: f.write((json.dumps(report, indent=2) + "\n").encode("utf-8")))
    return {**report, "files": [str(html_path), str(png_path), str(out / "units.json")]}
