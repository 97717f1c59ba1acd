"""Label files exported by annotation tools, read as segments like a segments CSV.

Each reader returns ``(unit, segments)`` as ``layout.read_segments`` does: the unit is
"seconds" (from the clip's first frame) or "frames" (the clip's decoded frames, numbered from 0),
segments are sorted, end-exclusive and never overlap (two that do are an error naming the file
and both); time no segment covers gets the background label later, as for a CSV.

- ELAN (``NAME.eaf``): the ``ALIGNABLE_ANNOTATION`` s of one tier, their ``TIME_SLOT_REF1`` /
  ``TIME_SLOT_REF2`` looked up in ``TIME_ORDER`` (milliseconds; the media descriptor's
  ``TIME_ORIGIN`` added), the label being the ``ANNOTATION_VALUE``. The tier: the only one with
  time-aligned annotations, or the one named by ``tier``.
- CVAT for video 1.1 (``NAME.xml``, CVAT's ``annotations.xml``): per-frame labels, in frames as
  CVAT numbers the clip's frames. A ``<tag frame= label=>`` labels its frame (``frame_filter``
  ``step=N`` in the meta: the N frames from it); a ``<track label=>`` labels the frames where its
  object is visible: each of its shapes (``box``, ``polygon``, ...) with ``outside="0"`` holds
  until the track's next shape, the last one until the task's ``stop_frame``.
- VIA 3 (``NAME.json``, a VGG Image Annotator 3 project): the temporal segments of its
  ``metadata`` (``z`` = [start, end] seconds, no ``xy`` region) of the clip's file (``vid``; the
  project's only file, or the one named like the clip), the label being the value in ``av`` of
  one attribute (its option name when the attribute has options). The attribute: the only one
  used by temporal segments, or the one named (``aname``) by ``tier``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from seq2seq.video.layout import LayoutError, Segment, check_overlaps

# The suffixes of the readers below, in the order ``layout.LABEL_FILES`` looks for them.
EXPORT_SUFFIXES = (".eaf", ".xml", ".json")


def is_export(path: Path) -> bool:
    """Whether ``path`` is an export this module reads, judged by its start: a ``.xml`` file whose
    root is CVAT's ``<annotations>``, a ``.json`` file with a ``metadata`` key (VIA 3), any
    ``.eaf``. Other files of those suffixes beside a clip (a player's or a pipeline's own XML or
    JSON) are not label files and are left alone."""
    suffix = path.suffix.lower()
    if suffix == ".eaf":
        return True
    try:
        if suffix == ".xml":
            head = path.read_bytes()[:4096].decode("utf-8", errors="replace")
            body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", head, flags=re.S).lstrip()
            return body.startswith("<annotations")
        if suffix == ".json":  # VIA writes "metadata" after its config: the whole file is read
            project = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(project, dict) and ("metadata" in project or "project" in project)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return False


def read_export(path: Path, tier: str | None = None) -> tuple[str, list[Segment]]:
    """The segments of an annotation tool's export, by its suffix (``EXPORT_SUFFIXES``)."""
    reader = {".eaf": read_eaf, ".xml": read_cvat, ".json": read_via}[path.suffix.lower()]
    unit, segs = reader(path, tier)
    for s in segs:
        if not s.label:
            raise LayoutError(f"{path}: the segment {s.start:g}-{s.end:g} ({unit}) has an empty label; name it")
    segs.sort(key=lambda s: (s.start, s.end))
    check_overlaps(path, segs, unit)
    return unit, segs


def _xml(path: Path, root_tag: str, tool: str) -> ET.Element:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise LayoutError(f"{path}: not well-formed XML ({e}); expected {tool}") from None
    if root.tag != root_tag:
        raise LayoutError(f"{path}: root element <{root.tag}>, expected <{root_tag}> ({tool})")
    return root


def _choose(path: Path, kind: str, found: dict[str, int], tier: str | None) -> str:
    """The tier (or attribute) to read: the one named by ``tier``, else the only one found."""
    listing = ", ".join(f"'{name}' ({n} segments)" for name, n in found.items()) or "none"
    if tier is not None:
        if tier not in found:
            raise LayoutError(f"{path}: no {kind} '{tier}' with time segments (--tier); it has {listing}")
        return tier
    if not found:
        raise LayoutError(f"{path}: no {kind} has time segments: nothing labels any frame")
    if len(found) > 1:
        raise LayoutError(f"{path}: {len(found)} {kind}s with time segments ({listing}); name one with --tier NAME")
    return next(iter(found))


def read_eaf(path: Path, tier: str | None = None) -> tuple[str, list[Segment]]:
    """Segments in seconds of one tier of an ELAN file (module docstring)."""
    root = _xml(path, "ANNOTATION_DOCUMENT", "an ELAN .eaf file")
    header = root.find("HEADER")
    if header is not None and header.get("TIME_UNITS", "milliseconds") != "milliseconds":
        raise LayoutError(f"{path}: TIME_UNITS '{header.get('TIME_UNITS')}'; only milliseconds are read")
    media = root.find("HEADER/MEDIA_DESCRIPTOR")
    origin = float(media.get("TIME_ORIGIN", 0) or 0) if media is not None else 0.0
    slots = {}
    for slot in root.iter("TIME_SLOT"):
        value = slot.get("TIME_VALUE")
        slots[slot.get("TIME_SLOT_ID")] = float(value) if value not in (None, "") else None
    tiers = {t.get("TIER_ID"): t.findall("ANNOTATION/ALIGNABLE_ANNOTATION") for t in root.iter("TIER")}
    chosen = _choose(path, "tier", {name: len(a) for name, a in tiers.items() if a}, tier)
    segs = []
    for a in tiers[chosen]:
        ms = []
        for ref in ("TIME_SLOT_REF1", "TIME_SLOT_REF2"):
            if a.get(ref) not in slots:
                raise LayoutError(
                    f"{path}: annotation {a.get('ANNOTATION_ID')} refers to unknown time slot {a.get(ref)!r}"
                )
            if slots[a.get(ref)] is None:
                raise LayoutError(
                    f"{path}: annotation {a.get('ANNOTATION_ID')} of tier '{chosen}' is not time-aligned "
                    f"(slot {a.get(ref)} has no TIME_VALUE); align it in ELAN"
                )
            ms.append(slots[a.get(ref)] + origin)
        start, end = ms[0] / 1000, ms[1] / 1000
        if not 0 <= start < end:
            raise LayoutError(
                f"{path}: annotation {a.get('ANNOTATION_ID')}: need 0 <= start < end, got {start}, {end} s"
            )
        segs.append(Segment(start, end, (a.findtext("ANNOTATION_VALUE") or "").strip()))
    return "seconds", segs


def _int(path: Path, element: ET.Element, name: str) -> int:
    value = element.get(name)
    if value is None or not re.fullmatch(r"\d+", value.strip()):
        raise LayoutError(f"{path}: <{element.tag}> has {name}={value!r}; expected a frame number")
    return int(value)


def read_cvat(path: Path, tier: str | None = None) -> tuple[str, list[Segment]]:
    """Segments in frames of a CVAT for video 1.1 export (module docstring); ``tier`` is unused."""
    root = _xml(path, "annotations", "a CVAT for video 1.1 export (annotations.xml)")
    task = root.find("meta/task")
    if task is None:
        task = root.find("meta/job")
    step, stop = 1, None
    if task is not None:
        found = re.search(r"step\s*=\s*(\d+)", task.findtext("frame_filter") or "")
        step = int(found.group(1)) if found else 1
        if (task.findtext("stop_frame") or "").strip().isdigit():
            stop = int(task.findtext("stop_frame").strip())
    frames: list[tuple[int, int, str]] = []  # (start, end, label) in frames, end exclusive
    for tag in root.iter("tag"):
        f = _int(path, tag, "frame")
        frames.append((f, f + step, tag.get("label", "")))
    for track in root.iter("track"):
        shapes = sorted((_int(path, s, "frame"), s.get("outside", "0").strip()) for s in track if "frame" in s.attrib)
        for (f, outside), nxt in zip(shapes, [*shapes[1:], None], strict=True):
            if outside == "1":
                continue
            end = nxt[0] if nxt is not None else (stop + 1 if stop is not None and stop >= f else f + step)
            frames.append((f, end, track.get("label", "")))
    if not frames:
        raise LayoutError(f"{path}: no <tag> and no visible <track> shapes: nothing labels any frame")
    frames.sort()
    segs: list[Segment] = []  # touching or overlapping pieces of one label become one segment
    for start, end, label in frames:
        if segs and segs[-1].label == label and start <= segs[-1].end:
            segs[-1].end = max(segs[-1].end, end)
        else:
            segs.append(Segment(float(start), float(end), label))
    return "frames", segs


def read_via(path: Path, tier: str | None = None) -> tuple[str, list[Segment]]:
    """Segments in seconds of a VIA 3 project's temporal segments (module docstring)."""
    try:
        project = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LayoutError(f"{path}: not a JSON file ({e}); expected a VIA 3 project") from None
    if not isinstance(project, dict) or not isinstance(project.get("metadata"), dict):
        raise LayoutError(f"{path}: no 'metadata' object: not a VIA 3 project (VGG Image Annotator 3, saved as JSON)")
    files = project.get("file") or {}
    vids = None  # the clip's file ids; None: every file's segments
    if len(files) > 1:
        name = path.name[: -len(path.suffix)]
        vids = {fid for fid, f in files.items() if Path(str(f.get("fname", ""))).stem == name}
        if not vids:
            names = ", ".join(str(f.get("fname")) for f in files.values())
            raise LayoutError(f"{path}: the project has {len(files)} files ({names}) and none is named '{name}'")
    attributes = project.get("attribute") or {}
    temporal = []
    for key, m in project["metadata"].items():
        if not isinstance(m, dict):
            raise LayoutError(f"{path}: metadata '{key}' is not an object")
        z = m.get("z") or []
        if len(z) != 2 or m.get("xy") or (vids is not None and str(m.get("vid")) not in vids):
            continue  # a region or a still annotation, or another file's
        temporal.append((key, m))
    used: dict[str, int] = {}
    for _, m in temporal:
        for aid in m.get("av") or {}:
            aname = str((attributes.get(aid) or {}).get("aname", aid))
            used[aname] = used.get(aname, 0) + 1
    chosen = _choose(path, "attribute", used, tier)
    segs = []
    for key, m in temporal:
        aid = next((a for a in (m.get("av") or {}) if str((attributes.get(a) or {}).get("aname", a)) == chosen), None)
        if aid is None:
            continue  # a segment of another attribute
        try:
            start, end = float(m["z"][0]), float(m["z"][1])
        except (TypeError, ValueError):
            raise LayoutError(f"{path}: metadata '{key}': z must be [start, end] in seconds, got {m['z']!r}") from None
        if not 0 <= start < end:
            raise LayoutError(f"{path}: metadata '{key}': need 0 <= start < end, got {start}, {end} s")
        value = str(m["av"][aid]).strip()
        options = (attributes.get(aid) or {}).get("options") or {}
        if options:  # a choice: the value holds option ids (several, comma-separated, for a checkbox)
            ids = [v.strip() for v in value.split(",") if v.strip()]
            if len(ids) != 1 or ids[0] not in options:
                raise LayoutError(
                    f"{path}: metadata '{key}': attribute '{chosen}' is {value!r}; expected one of its option ids "
                    f"({', '.join(f'{i}={n}' for i, n in options.items())})"
                )
            value = str(options[ids[0]]).strip()
        segs.append(Segment(start, end, value))
    return "seconds", segs
