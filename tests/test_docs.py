"""The docs say what the code does: the key tables are the dataclasses' own."""

from __future__ import annotations

from docs import keys


def test_key_tables_are_generated_from_the_dataclasses():
    assert keys.stale() == [], "run `make docs` to regenerate the key tables"


def test_a_changed_default_makes_a_table_stale(tmp_path):
    text = "intro\n<!-- keys:search -->\n| old table |\n<!-- /keys:search -->\nafter\n"
    (tmp_path / "page.md").write_text(text)
    assert keys.stale(tmp_path) == ["page.md"]
    rendered = keys.render(text)
    assert "| `beam_size` | `5` | beam width of beam search |" in rendered and rendered.endswith("after\n")
    (tmp_path / "page.md").write_text(rendered)
    assert keys.stale(tmp_path) == []
