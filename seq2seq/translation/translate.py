"""``seq2seq translate``: raw text lines in, detokenised translations out, one line per line.

Input is read lazily in windows of ``--window`` lines, so memory stays bounded on files of any
size; inside a window sentences are sorted by length into batches of at most ``--batch-tokens``
source subwords (little padding), and the translations are written back in input order. An output
file is written under a temporary name and renamed when complete, so an interrupted run (Ctrl-C)
leaves no file that looks finished.

On a terminal (stdin a TTY, no input file) it is interactive: each line is translated as soon as it
is typed (a window of one line) and its translation written and flushed at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from tqdm import tqdm

from seq2seq.checkpoint import atomic_write
from seq2seq.config import SearchConfig
from seq2seq.translation.text import count_lines, iter_binary_lines, iter_lines
from seq2seq.translation.translator import TranslateError, Translator


def windows(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of up to ``size`` lines."""
    window: list[str] = []
    for line in lines:
        window.append(line)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


def format_result(number: int, hyps: list[tuple[str, float]], nbest: int) -> str:
    """One output line, or with ``nbest`` > 1 the Moses n-best lines ``N ||| text ||| score``
    (N counts input lines from 0)."""
    if nbest <= 1:
        return hyps[0][0].replace("\n", " ") + "\n"
    return "".join(f"{number} ||| {text.replace(chr(10), ' ')} ||| {score:.4f}\n" for text, score in hyps)


def translate_stream(
    translator: Translator,
    lines: Iterable[str],
    write: Callable[[str], None],
    search: SearchConfig,
    window: int = 1000,
    bar: tqdm | None = None,
    keep: int = 0,
) -> tuple[int, tuple[str, str] | None]:
    """Translate ``lines`` window by window, calling ``write`` with the output in input order.
    Returns the number of input lines and (line, best translation) of line ``keep`` (1-based; 0
    for the first non-empty line) for an attention plot, or None when there is no such line."""
    done, kept = 0, None
    for chunk in windows(lines, window):
        results = translator.translate(chunk, search, first_line=done + 1)
        for i, (line, hyps) in enumerate(zip(chunk, results, strict=True)):
            write(format_result(done + i, hyps, search.nbest))
            if kept is None and ((keep == 0 and line.strip()) or keep == done + i + 1):
                kept = (line, hyps[0][0])
        done += len(chunk)
        if bar is not None:
            bar.update(len(chunk))
    return done, kept


def is_terminal(stream) -> bool:
    """Whether ``stream`` is a terminal (False for a stream without a file, e.g. under pytest)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def run(
    translator: Translator,
    search: SearchConfig,
    source: str | None,
    target: str | None,
    window: int = 1000,
    plot: str | None = None,
    plot_line: int = 0,
    progress: bool | None = None,
) -> int:
    """Translate a file (or stdin) into a file (or stdout); returns the number of lines. Input
    typed on a terminal is translated line by line, each answer flushed as it is written."""
    if window < 1:
        raise TranslateError(f"--window {window}: give at least 1 line")
    interactive = source is None and is_terminal(sys.stdin)
    if interactive:
        window = 1  # answer each line as it comes
        if is_terminal(sys.stderr):
            print("seq2seq: translating each line as you type it; Ctrl-D ends", file=sys.stderr)
    show = (is_terminal(sys.stderr) and not interactive) if progress is None else progress
    total = count_lines(source) if (source and show) else None
    lines: Iterable[str] = iter_lines(source) if source else iter_binary_lines(sys.stdin.buffer, "<stdin>")
    with tqdm(total=total, unit="line", disable=not show, file=sys.stderr, dynamic_ncols=True) as bar:

        def work(out: BinaryIO) -> tuple[int, tuple[str, str] | None]:
            def write(text: str) -> None:
                out.write(text.encode("utf-8"))
                if interactive:
                    out.flush()

            return translate_stream(translator, lines, write, search, window, bar, plot_line)

        if target:
            result: list[tuple[int, tuple[str, str] | None]] = []
            atomic_write(target, lambda f: result.append(work(f)))
            count, kept = result[0]
        else:
            count, kept = work(sys.stdout.buffer)
            sys.stdout.buffer.flush()
    if plot:
        if kept is None:
            where = f"line {plot_line}" if plot_line else "a non-empty line"
            raise TranslateError(f"--attention-plot: the input ({count} lines) has no {where} to plot")
        if not kept[0].strip():
            raise TranslateError(f"--plot-line {plot_line}: that line is empty; choose a line with text to plot")
        from seq2seq.translation.plots import plot_attention

        plot_attention(*translator.attention(*kept), plot)
    return count
