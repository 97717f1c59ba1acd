"""Reading parallel text: plain and gzip, line ends, and each bad input named by file and line."""

from __future__ import annotations

import gzip

import pytest

from seq2seq.translation.text import (
    TextError,
    count_lines,
    iter_binary_lines,
    read_lines,
    read_parallel,
    write_lines,
)


def test_plain_and_gzip_read_the_same_lines(tmp_path):
    lines = ["Ein Hund läuft.", "", "Zwei Männer\u2028sprechen."]  # U+2028 is not a line break here
    write_lines(tmp_path / "a.txt", lines)
    write_lines(tmp_path / "a.txt.gz", lines)
    assert read_lines(tmp_path / "a.txt") == lines
    assert read_lines(tmp_path / "a.txt.gz") == lines
    assert gzip.decompress((tmp_path / "a.txt.gz").read_bytes()).decode("utf-8") == "\n".join(lines) + "\n"
    assert count_lines(tmp_path / "a.txt") == 3 == count_lines(tmp_path / "a.txt.gz")


def test_crlf_bom_and_missing_final_newline(tmp_path):
    (tmp_path / "w.txt").write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\nthree")
    assert read_lines(tmp_path / "w.txt") == ["one", "two", "three"]
    assert count_lines(tmp_path / "w.txt") == 3


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.de"
    path.write_bytes("erste Zeile\nzweite Zeile\nGrüße\n".encode("latin-1"))
    with pytest.raises(TextError, match=r"latin1\.de: line 3: not valid UTF-8 \(byte 0xfc at column 3\)"):
        read_lines(path)
    gz = tmp_path / "latin1.de.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(TextError, match=r"latin1\.de\.gz: line 3"):
        read_lines(gz)


def test_invalid_utf8_on_a_stream_names_the_line():
    import io

    with pytest.raises(TextError, match=r"<stdin>: line 2"):
        list(iter_binary_lines(io.BytesIO(b"ok\n\xff\n"), "<stdin>"))


def test_different_line_counts_name_both_counts(tmp_path):
    write_lines(tmp_path / "train.en", ["a", "b", "c"])
    write_lines(tmp_path / "train.de", ["a", "b"])
    with pytest.raises(TextError, match=r"train\.en has 3 lines but .*train\.de has 2"):
        read_parallel(tmp_path / "train.en", tmp_path / "train.de")


def test_empty_training_file(tmp_path):
    (tmp_path / "train.en").write_bytes(b"")
    write_lines(tmp_path / "train.de", ["a"])
    with pytest.raises(TextError, match=r"train\.en: empty file"):
        read_parallel(tmp_path / "train.en", tmp_path / "train.de")
    (tmp_path / "blank.en").write_text("\n\n", encoding="utf-8")
    with pytest.raises(TextError, match=r"blank\.en: empty file"):
        read_parallel(tmp_path / "blank.en", tmp_path / "train.de")


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(TextError, match=r"nope\.en: no such file"):
        read_lines(tmp_path / "nope.en")
    data = gzip.compress(("line\n" * 10000).encode())
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TextError, match=r"cut\.gz: unreadable after line \d+"):
        read_lines(tmp_path / "cut.gz")


def test_write_lines_interrupted_leaves_nothing_behind(tmp_path, monkeypatch):
    write_lines(tmp_path / "old.txt.gz", ["old"])

    def interrupted(self, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(gzip.GzipFile, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_lines(tmp_path / "new.txt.gz", ["a", "b"])
    with pytest.raises(KeyboardInterrupt):
        write_lines(tmp_path / "old.txt.gz", ["replaced"])
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt.gz"]
    assert read_lines(tmp_path / "old.txt.gz") == ["old"]
