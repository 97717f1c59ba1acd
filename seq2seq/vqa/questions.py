"""Generated questions about generated scenes (``seq2seq.vision.scenes``), each with its answer.

Four types, each asked only when its answer is defined (the thing it is about is the only one the
question describes):

- ``colour``: "what colour is the square?", "what colour is the thing at the top left?"
- ``shape``: "what shape is at the top left?", "what shape is the red thing?"
- ``count``: "how many red things are there?", "how many circles are there?" (0 to 4 and more)
- ``position``: "where is the blue circle?", "where is the triangle?" (one of the 9 places)

So that a model cannot answer from the question alone, each scene gets at most ``per_type``
distinct questions of each type, chosen among the scene's candidates so that every question's answers stay as even as
the scenes allow (the least used (question, answer) pair first, then the least used answer of the
type). ``held_out`` combinations of colour and shape ("red triangle") are never the subject of a
training question (``exclude_held_out``): the test split asks about them, and its score on those
questions (``novel``) says whether the model composes colour and shape or memorised pairs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from seq2seq.vision.scenes import SHAPES, Scene, Thing, place

TYPES = ("colour", "shape", "count", "position")


@dataclass(frozen=True)
class Question:
    """A question about one scene: its text, answer, type, and the colour and shape of the thing it
    is about ("" for counts, which are about every thing)."""

    question: str
    answer: str
    type: str
    subject: str = ""


def plural(shape: str) -> str:
    return f"{shape}s"


def candidates(scene: Scene) -> dict[str, list[Question]]:
    """Every question of each type whose answer the scene defines."""
    things = scene.things
    shapes = Counter(t.shape for t in things)
    colours = Counter(t.colour for t in things)
    pairs = Counter((t.colour, t.shape) for t in things)
    out: dict[str, list[Question]] = {t: [] for t in TYPES}

    def about(t: Thing) -> str:
        return f"{t.colour} {t.shape}"

    for t in things:
        where = place(t)
        out["colour"].append(Question(f"what colour is the thing at the {where}?", t.colour, "colour", about(t)))
        out["shape"].append(Question(f"what shape is at the {where}?", t.shape, "shape", about(t)))
        if shapes[t.shape] == 1:
            out["colour"].append(Question(f"what colour is the {t.shape}?", t.colour, "colour", about(t)))
            out["position"].append(Question(f"where is the {t.shape}?", where, "position", about(t)))
        if colours[t.colour] == 1:
            out["shape"].append(Question(f"what shape is the {t.colour} thing?", t.shape, "shape", about(t)))
            out["position"].append(Question(f"where is the {t.colour} thing?", where, "position", about(t)))
        if pairs[(t.colour, t.shape)] == 1:
            out["position"].append(Question(f"where is the {t.colour} {t.shape}?", where, "position", about(t)))
    from seq2seq.vision.scenes import COLOURS

    for colour in COLOURS:
        out["count"].append(Question(f"how many {colour} things are there?", str(colours[colour]), "count"))
    for shape in SHAPES:
        out["count"].append(Question(f"how many {plural(shape)} are there?", str(shapes[shape]), "count"))
    return out


class Balancer:
    """Chooses one question per type for each scene, keeping each question's answers even."""

    def __init__(self, seed: int, held_out: Iterable[str] = ()) -> None:
        self.rng = random.Random(seed)
        self.held_out = frozenset(held_out)
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.answers: Counter[tuple[str, str]] = Counter()

    def choose(self, scene: Scene, per_type: int = 1) -> list[Question]:
        """Up to ``per_type`` distinct questions of each type about ``scene``."""
        chosen = []
        for kind, found in candidates(scene).items():
            found = [q for q in found if q.subject not in self.held_out]
            self.rng.shuffle(found)  # ties broken at random
            for _ in range(min(per_type, len(found))):
                best = min(found, key=lambda q: (self.pairs[q.question, q.answer], self.answers[kind, q.answer]))
                found.remove(best)
                self.pairs[best.question, best.answer] += 1
                self.answers[kind, best.answer] += 1
                chosen.append(best)
        return chosen


def ask(scenes: Sequence[Scene], seed: int, held_out: Iterable[str] = (), per_type: int = 1) -> list[list[Question]]:
    """The questions of each scene (up to ``per_type`` of each type that has a defined answer),
    balanced over the scenes in order; subjects in ``held_out`` ("red triangle") are never asked
    about."""
    balancer = Balancer(seed, held_out)
    return [balancer.choose(scene, per_type) for scene in scenes]
