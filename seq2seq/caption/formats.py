"""Caption files in the formats users have, read into one list of ``CaptionItem`` (an image or a
clip with all its reference captions and its split).

Accepted formats (``fmt``; ``auto`` tells them apart by the suffix and, for JSON, by the keys):

- ``coco``: COCO captions JSON (``captions_train2014.json``): ``images`` [{id, file_name}] and
  ``annotations`` [{image_id, caption}]. Images without an annotation are skipped (COCO's
  ``image_info`` files list test images without captions). The split comes from the file name
  (``train``, ``val``, ``test`` in it) or the ``split`` argument.
- ``karpathy``: the Karpathy split JSON of Flickr8k / Flickr30k / COCO (``dataset_coco.json``):
  ``images`` [{filename, filepath?, split, sentences: [{raw, tokens}]}]; the image is
  ``MEDIA_ROOT/filepath/filename`` (``filepath`` when given: COCO's ``val2014``); ``raw`` is the
  caption (``tokens`` joined by spaces where there is no ``raw``); ``restval`` counts as train.
- ``msrvtt``: MSR-VTT's ``videodatainfo.json``: ``videos`` [{video_id, split}] and ``sentences``
  [{video_id, caption}]; the clip is ``MEDIA_ROOT/VIDEO_ID.mp4`` (or .avi, .mkv, .webm, .mov,
  .m4v). Its ``start time`` / ``end time`` are times in the source YouTube video, which the
  released clips are already cut to, so items get no start and end.
- ``csv``: a comma-separated file with a header row naming the columns (case, spaces and ``_``
  ignored): a caption column (``caption``, ``description``, ``sentence`` or ``text``), and a
  ``media`` column (``media``, ``file``, ``filename``, ``path``, ``image``, ``video``: a path under
  MEDIA_ROOT) or a clip id column (``videoid``, ``video_id``, ``vid``, ``clip_id``, ``id``);
  optional ``start`` and ``end`` (seconds; also ``start time``, ``end_time``), ``language``
  (only ``English`` / ``en`` rows are read) and ``split``. MSVD's
  ``VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description`` is one such file: a
  clip id with times is the cut clip ``VIDEOID_START_END.avi`` (as MSVD's YouTubeClips are named;
  any video suffix above) or else the whole video ``VIDEOID.avi`` with the item's ``start`` and
  ``end`` set; an id without times is ``VIDEOID.mp4`` (MSR-VTT's ``video_id,sentence`` CSVs).
- ``tsv`` (also ``.txt``): users' own data, one reference per line, ``media<TAB>caption``; a
  first line that names columns as in ``csv`` (``media<TAB>caption<TAB>split``) is a header.
- ``jsonl``: one JSON object per line, ``{"media": ..., "captions": [...] | "caption": ...,
  "split"?, "start"?, "end"?}`` (what ``seq2seq.caption.clips`` writes as ``clips.jsonl``).

Rows or entries naming the same media (and times) make one item, whose captions keep the order of
the file. Media paths are relative to ``media_root`` (default: the caption file's folder); every
one must exist. Splits are normalised to ``train`` (train, restval), ``valid`` (val, valid,
validate, validation, dev) and ``test``. ``split`` (the argument) is the split of a file whose
entries carry none, and comes before the file name; it cannot be given for entries that name
their own. Captions are stripped and their runs of whitespace made one space; nothing else is
changed (lowercasing and tokenisation are the metrics' and the task's business). Files may be
gzipped (``.json.gz``, ``.tsv.gz``, ...). Every problem is a one-line ``CaptionFileError`` naming
the file and the entry (``images[3]``, ``annotations[12]``, or the line).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import DataError, relative_to_here
from seq2seq.translation.text import csv_records, read_lines

FORMATS = ("auto", "coco", "karpathy", "msrvtt", "csv", "tsv", "jsonl")
JSON_FORMATS = ("coco", "karpathy", "msrvtt")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")
SPLITS = {
    **dict.fromkeys(("train", "training", "restval"), "train"),
    **dict.fromkeys(("val", "valid", "validate", "validation", "dev"), "valid"),
    **dict.fromkeys(("test", "testing"), "test"),
}
# CSV / TSV header names (lowercased, without spaces and underscores) -> the column they are
COLUMNS = {
    **dict.fromkeys(("media", "file", "filename", "path", "image", "video"), "media"),
    **dict.fromkeys(("videoid", "vid", "clipid", "id"), "id"),
    **dict.fromkeys(("caption", "description", "sentence", "text"), "caption"),
    **dict.fromkeys(("start", "starttime"), "start"),
    **dict.fromkeys(("end", "endtime"), "end"),
    **dict.fromkeys(("language", "lang"), "language"),
    "split": "split",
}


class CaptionFileError(DataError):
    """A caption file that cannot be used; the message names the file and the entry or line."""


@dataclass(frozen=True)
class CaptionItem:
    """One image or clip (``start``..``end`` seconds of ``media`` when set) and its references."""

    media: Path
    captions: tuple[str, ...]
    split: str  # train | valid | test
    start: float | None = None
    end: float | None = None


@dataclass
class _Ref:
    """One reference caption as read, before references of the same media are gathered."""

    key: tuple
    where: str  # FILE: ENTRY or FILE:LINE, for messages
    media: tuple[tuple[Path, float | None, float | None], ...]  # candidates: the first that exists
    caption: str
    split: str | None


def read_captions(
    path: str | Path, fmt: str = "auto", media_root: str | Path | None = None, split: str | None = None
) -> list[CaptionItem]:
    """The items of a caption file in ``fmt`` (module docstring), in the file's order."""
    path = Path(path)
    if not path.is_file():
        raise CaptionFileError(f"{path}: no such caption file{relative_to_here(path)}")
    if fmt not in FORMATS:
        raise CaptionFileError(f"{path}: unknown caption format '{fmt}'; use one of {', '.join(FORMATS)}")
    root = path.parent if media_root is None else Path(media_root)
    if not root.is_dir():
        raise CaptionFileError(f"{path}: media_root {root} is not a folder")
    if split is not None:
        split = _split(split, f"{path}: split argument")
    json_file = fmt in JSON_FORMATS or (fmt == "auto" and _suffix(path) == ".json")
    data = _load_json(path) if json_file else {}
    if fmt == "auto":
        fmt = _detect(path, data)
    if fmt in JSON_FORMATS:
        refs = {"coco": _coco, "karpathy": _karpathy, "msrvtt": _msrvtt}[fmt](path, data, root)
    elif fmt == "jsonl":
        refs = _jsonl(path, root)
    else:
        refs = _table(path, root, fmt)
    if not refs:
        raise CaptionFileError(f"{path}: no captions in the file")
    return _items(path, root, refs, split)


def _suffix(path: Path) -> str:
    """The suffix that tells the format, looking through ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else ""


def _detect(path: Path, data: dict) -> str:
    suffix = _suffix(path)
    if suffix == ".json":
        if "annotations" in data:
            return "coco"
        if "videos" in data:
            return "msrvtt"
        if "images" in data:
            return "karpathy"
        raise CaptionFileError(f"{path}: a JSON object without 'annotations' (COCO), 'images' (Karpathy) or "
                               f"'videos' (MSR-VTT); give fmt for another layout")  # fmt: skip
    if suffix in (".jsonl", ".csv", ".tsv"):
        return suffix[1:]
    if suffix == ".txt":
        return "tsv"
    raise CaptionFileError(f"{path}: cannot tell the caption format from the suffix '{suffix}'; "
                           f"give one of {', '.join(FORMATS[1:])}")  # fmt: skip


def _load_json(path: Path) -> dict:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        data = json.loads(raw.decode("utf-8-sig"))
    except json.JSONDecodeError as e:
        raise CaptionFileError(f"{path}: not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise CaptionFileError(f"{path}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise CaptionFileError(f"{path}: not a JSON object at the top (found a {type(data).__name__})")
    return data


def _get(entry: object, key: str, where: str):
    if not isinstance(entry, dict):
        raise CaptionFileError(f"{where}: not a JSON object")
    if key not in entry:
        raise CaptionFileError(f"{where}: no key '{key}'")
    return entry[key]


def _list(data: dict, key: str, path: Path) -> list:
    value = _get(data, key, str(path))
    if not isinstance(value, list):
        raise CaptionFileError(f"{path}: '{key}' is not a list")
    return value


def _text(value: object, where: str) -> str:
    """A caption, stripped and with single spaces; empty or not text is an error."""
    if not isinstance(value, str):
        raise CaptionFileError(f"{where}: the caption is not text ({value!r})")
    text = " ".join(value.split())
    if not text:
        raise CaptionFileError(f"{where}: empty caption")
    return text


def _split(value: object, where: str) -> str:
    name = str(value).strip().lower()
    if name not in SPLITS:
        raise CaptionFileError(f"{where}: unknown split {value!r}; use train, restval, val(id) or test")
    return SPLITS[name]


def _media(root: Path, name: object, where: str) -> Path:
    if not isinstance(name, str) or not name.strip():
        raise CaptionFileError(f"{where}: the media name is empty or not text ({name!r})")
    return root / name.strip()


def _named(
    root: Path, stem: str, start: float | None = None, end: float | None = None, first: str = ".mp4"
) -> tuple[tuple[Path, float | None, float | None], ...]:
    """The candidates for a clip named by its id: ``STEM`` with each video suffix, ``first`` first."""
    suffixes = (first, *(s for s in VIDEO_SUFFIXES if s != first))
    return tuple((root / f"{stem}{s}", start, end) for s in suffixes)


def _coco(path: Path, data: dict, root: Path) -> list[_Ref]:
    images = {}
    for i, image in enumerate(_list(data, "images", path)):
        where = f"{path}: images[{i}]"
        image_id, name = _get(image, "id", where), _get(image, "file_name", where)
        images[image_id] = _media(root, name, f"{where} (id {image_id})")
    notes = _notes(path, data, ("annotations", "image_id", "caption"), images, ("image", "images"))
    return [_Ref((i,), where, ((images[i], None, None),), caption, None) for i, where, caption in notes]


def _notes(
    path: Path, data: dict, keys: tuple[str, str, str], known: dict, what: tuple[str, str]
) -> list[tuple[object, str, str]]:
    """(id, where, caption) of the entries ``data[LIST]`` (``keys``: LIST, ID, CAPTION) that name
    an id of ``known`` (``what``: its name and list's name), in the order of ``known``."""
    notes = []
    for j, note in enumerate(_list(data, keys[0], path)):
        where = f"{path}: {keys[0]}[{j}]"
        ref, caption = _get(note, keys[1], where), _get(note, keys[2], where)
        if ref not in known:
            raise CaptionFileError(f"{where} names {what[0]} id {ref!r}, which is not in '{what[1]}'")
        where = f"{where} ({what[0]} id {ref})"
        notes.append((ref, where, _text(caption, where)))
    order = {ref: k for k, ref in enumerate(known)}
    return sorted(notes, key=lambda n: order[n[0]])  # sorted is stable: each media's captions keep their order


def _karpathy(path: Path, data: dict, root: Path) -> list[_Ref]:
    refs = []
    for i, image in enumerate(_list(data, "images", path)):
        where = f"{path}: images[{i}]"
        name = _get(image, "filename", where)
        where = f"{where} ({name})"
        folder = image.get("filepath") or ""
        media = _media(root / folder if isinstance(folder, str) else root, name, where)
        split = _split(_get(image, "split", where), where)
        sentences = _get(image, "sentences", where)
        if not isinstance(sentences, list) or not sentences:
            raise CaptionFileError(f"{where}: 'sentences' is not a list of captions, or is empty")
        for k, sentence in enumerate(sentences):
            at = f"{where} sentences[{k}]"
            if isinstance(sentence, dict) and "raw" not in sentence and isinstance(sentence.get("tokens"), list):
                raw = " ".join(str(t) for t in sentence["tokens"])
            else:
                raw = _get(sentence, "raw", at)
            refs.append(_Ref((str(media),), at, ((media, None, None),), _text(raw, at), split))
    return refs


def _msrvtt(path: Path, data: dict, root: Path) -> list[_Ref]:
    videos = {}
    for i, video in enumerate(_list(data, "videos", path)):
        where = f"{path}: videos[{i}]"
        clip = _get(video, "video_id", where)
        videos[clip] = _split(_get(video, "split", where), f"{where} ({clip})")
    notes = _notes(path, data, ("sentences", "video_id", "caption"), videos, ("video", "videos"))
    return [_Ref((c,), where, _named(root, str(c)), caption, videos[c]) for c, where, caption in notes]


def _jsonl(path: Path, root: Path) -> list[_Ref]:
    refs = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise CaptionFileError(f"{where}: not JSON ({e.msg} at column {e.colno})") from None
        media = _media(root, _get(entry, "media", where), where)
        captions = entry.get("captions", [entry["caption"]] if "caption" in entry else None)
        if not isinstance(captions, list) or not captions:
            raise CaptionFileError(f"{where}: no 'captions' list (or 'caption')")
        start, end = (_seconds(entry.get(k), k, where) for k in ("start", "end"))
        split = _split(entry["split"], where) if entry.get("split") is not None else None
        for caption in captions:
            refs.append(_Ref((str(media), start, end), where, ((media, start, end),), _text(caption, where), split))
    return refs


def _seconds(value: object, name: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CaptionFileError(f"{where}: {name} {value!r} is not a number of seconds") from None


def _lines(path: Path) -> list[str]:
    try:
        return read_lines(path)
    except DataError as e:
        raise CaptionFileError(str(e)) from None


def _column(name: str) -> str | None:
    return COLUMNS.get(re.sub(r"[\s_]", "", name.strip().lower()))


def _table(path: Path, root: Path, fmt: str) -> list[_Ref]:
    """Rows of a CSV (header required) or TSV (header optional) file."""
    try:
        rows = csv_records(path, "," if fmt == "csv" else "\t", strict=False)
    except DataError as e:
        raise CaptionFileError(str(e)) from None
    if not rows:
        raise CaptionFileError(f"{path}: empty file")
    header = [_column(c) for c in rows[0][1]]
    named = "caption" in header and ("media" in header or "id" in header)
    if fmt == "csv" and not named:
        raise CaptionFileError(f"{path}:{rows[0][0]}: the header {rows[0][1]} names no caption column (caption, "
                               f"description, sentence, text) and media or clip id column (media, file, video_id, "
                               f"videoid, ...); start the file with e.g. media,caption")  # fmt: skip
    if named:
        at = {column: header.index(column) for column in set(header) - {None}}
        rows = rows[1:]
    else:
        at = {"media": 0, "caption": 1}
    refs = []
    for number, cells in rows:
        where = f"{path}:{number}"
        if not named:  # media<TAB>caption; a tab inside the caption stays in it
            if len(cells) > 2 and cells[-1].strip().lower() in SPLITS:
                # but a last field that is a split's name is a split column without its header, which
                # would otherwise end up in the caption ("a cat train")
                raise CaptionFileError(f"{where}: a third field {cells[-1].strip()!r} is a split, but the file has no "
                                       "header; start it with the line media<TAB>caption<TAB>split")  # fmt: skip
            cells = cells[:1] + ["\t".join(cells[1:])] if len(cells) > 1 else cells
        if len(cells) <= max(at.values()):
            raise CaptionFileError(f"{where}: {len(cells)} field(s) where the header has {max(at.values()) + 1}"
                                   if named else f"{where}: expected media<TAB>caption")  # fmt: skip
        cell = {column: cells[i].strip() for column, i in at.items()}
        if "language" in cell and cell["language"].lower() not in ("english", "en"):
            continue
        split = _split(cell["split"], where) if cell.get("split") else None
        start, end = _seconds(cell.get("start"), "start", where), _seconds(cell.get("end"), "end", where)
        if "media" in cell:
            media = _media(root, cell["media"], where)
            candidates: tuple = ((media, start, end),)
            key: tuple = (str(media), start, end)
        else:
            clip = cell["id"]
            if not clip:
                raise CaptionFileError(f"{where}: empty clip id")
            if start is None or end is None:
                candidates, key = _named(root, clip), (clip,)
            else:  # the cut clip as MSVD names it, else the whole video from start to end
                cut = _named(root, f"{clip}_{cell['start']}_{cell['end']}", first=".avi")
                candidates, key = cut + _named(root, clip, start, end, first=".avi"), (clip, start, end)
        refs.append(_Ref(key, where, candidates, _text(cell["caption"], where), split))
    return refs


def _split_from_name(path: Path) -> str | None:
    for word in re.findall(r"[a-z]+", path.name.lower()):
        if word in SPLITS:
            return SPLITS[word]
    return None


def _entry(path: Path, where: str) -> str:
    """``FILE: images[3]`` -> ``images[3]``; ``FILE:12`` -> ``line 12``."""
    rest = where.removeprefix(str(path))
    return f"line {rest[1:]}" if rest[1:].isdigit() else rest.lstrip(": ")


def _items(path: Path, root: Path, refs: list[_Ref], split: str | None) -> list[CaptionItem]:
    """Gather the references of each media, give each item its split and check the media exist."""
    groups: dict[tuple, list[_Ref]] = {}
    for ref in refs:
        groups.setdefault(ref.key, []).append(ref)
    items, missing = [], []
    default = split or _split_from_name(path)
    for group in groups.values():
        first = group[0]
        own = {r.split for r in group} - {None}
        if own and split is not None:
            raise CaptionFileError(f"{first.where}: names its own split '{first.split}'; give no split argument "
                                   f"for this file (choose items by their .split)")  # fmt: skip
        if len(own) > 1:
            other = next(r for r in group if r.split != first.split)
            raise CaptionFileError(f"{other.where}: split '{other.split}' where {first.where} gave this media "
                                   f"'{first.split}'")  # fmt: skip
        item_split = first.split if own else default
        if item_split is None:
            raise CaptionFileError(f"{path}: no split in its entries or its name; pass split='train', 'valid' or "
                                   f"'test' for the whole file")  # fmt: skip
        found = next(((m, s, e) for m, s, e in first.media if m.is_file()), None)
        if found is None:
            missing.append(first)
            continue
        media, start, end = found
        items.append(CaptionItem(media, tuple(r.caption for r in group), item_split, start, end))
    if missing:
        first = missing[0]
        raise CaptionFileError(f"{path}: {len(missing)} of {len(groups)} media file(s) do not exist under {root}; "
                               f"the first: {first.media[0][0]} ({_entry(path, first.where)}); set data.media_root "
                               f"(--set data.media_root=FOLDER) to the folder they are relative to")  # fmt: skip
    return items
