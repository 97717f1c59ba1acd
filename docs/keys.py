"""The key tables of the docs, generated from the config dataclasses (``make docs`` writes them;
``tests/test_docs.py`` fails when one is stale).

A table sits between ``<!-- keys:NAME -->`` and ``<!-- /keys:NAME -->``, where NAME is
``model``, ``train`` or ``search`` (the shared sections) or a task's name (its ``[data]``).

    python docs/keys.py          # rewrite the tables in docs/*.md
    python docs/keys.py --check  # list the stale ones, exit 1 if any
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
BLOCK = re.compile(r"(<!-- keys:(?P<name>[\w.]+) -->\n)(?P<body>.*?)(<!-- /keys:(?P=name) -->)", re.S)


def table(name: str) -> str:
    from seq2seq.config import SECTION_CLASSES, markdown_table
    from seq2seq.registry import task_class

    cls = SECTION_CLASSES.get(name) or task_class(name).Data
    return markdown_table(cls)


def render(text: str) -> str:
    """``text`` with every key table replaced by the generated one."""
    return BLOCK.sub(lambda m: m.group(1) + table(m.group("name")) + m.group(4), text)


def stale(docs: Path = DOCS) -> list[str]:
    """The docs files whose key tables differ from the generated ones."""
    return [p.name for p in sorted(docs.glob("*.md")) if render(p.read_text(encoding="utf-8")) != p.read_text("utf-8")]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = stale()
        for name in found:
            print(f"docs/{name}: key tables are stale; run `make docs`")
        return 1 if found else 0
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if render(text) != text:
            path.write_text(render(text), encoding="utf-8")
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
