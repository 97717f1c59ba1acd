"""Downloads that are bounded in size, written under a temporary name and renamed only when
complete, and that fail with one line saying what was fetched and how to do without the network;
and checking names taken from downloaded data. Used by ``seq2seq.translation.multi30k`` (which
``train`` runs for a recipe with ``data.fetch``) and by the ``datasets/prepare_*.py`` scripts.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PureWindowsPath

from seq2seq.config import UserError

CHUNK = 1 << 16


class PrepareError(UserError):
    """A one-line, user-facing error (the scripts print it as ``prepare_NAME: error: ...``)."""


class NotFound(PrepareError):
    """The server answered 404: the source has no such file (some scripts skip those)."""


def plain_name(name: str, where: str) -> str:
    """``name`` when it is a plain file name, safe to join to an output folder; otherwise a
    PrepareError naming ``where`` (the file the name came from) and the name.

    Refused: empty, ``.``, ``..``, anything with a path separator (``/`` or ``\\``), a drive or
    other anchor, NUL or another control character, and a leading ``-`` (read as an option by
    tools that later get the file name)."""
    problem = None
    if name in ("", ".", ".."):
        problem = "not a file name"
    elif "/" in name or "\\" in name or (os.sep in name) or (os.altsep and os.altsep in name):
        problem = "holds a path separator"
    elif PureWindowsPath(name).anchor or Path(name).is_absolute():
        problem = "is an absolute path"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        problem = "holds a NUL or control character"
    elif name.startswith("-"):
        problem = "starts with '-'"
    if problem:
        raise PrepareError(f"{where}: refusing the name {name!r}: {problem}; names must be plain file names")
    return name


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or "no reason given"


def _reason(e: BaseException, timeout: float) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {_one_line(e.reason)}"
    if isinstance(e, urllib.error.URLError) and isinstance(e.reason, BaseException):
        e = e.reason
    if isinstance(e, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(e, urllib.error.URLError):
        return _one_line(e.reason)
    if isinstance(e, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    return _one_line(e) if str(e) else type(e).__name__


def download(url: str, target: Path, limit: int, hint: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target``: read at most ``limit`` bytes (more is an error: a broken or
    hostile server cannot fill the disk), into a temporary file beside ``target`` that is renamed
    to ``target`` only once complete, so no partial file ever has the final name.

    Errors are a PrepareError of one line naming ``url`` and ending with ``hint`` (how to prepare
    the data from a local folder instead); a 404 is the subclass NotFound."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    declared = (response.headers.get("Content-Length") or "").strip()
                    announced = int(declared) if declared.isdigit() else None
                    if announced is not None and announced > limit:
                        raise PrepareError(
                            f"{url}: the server announces {announced:,} bytes, more than the {limit:,} allowed "
                            f"for this file; nothing kept; {hint}"
                        )
                    size = 0
                    while chunk := response.read(min(CHUNK, limit + 1 - size)):
                        size += len(chunk)
                        if size > limit:
                            raise PrepareError(
                                f"{url}: stopped after {limit:,} bytes, the most allowed for this file; "
                                f"the partial download is deleted; {hint}"
                            )
                        f.write(chunk)
                    if announced is not None and size != announced:
                        # http.client raises no IncompleteRead for reads in chunks: check it here
                        raise PrepareError(
                            f"could not download {url} (the connection closed after {size:,} of the "
                            f"{announced:,} bytes announced); the partial download is deleted; {hint}"
                        )
            except PrepareError:
                raise
            except urllib.error.HTTPError as e:
                error = NotFound if e.code == 404 else PrepareError
                raise error(f"could not download {url} ({_reason(e, timeout)}); {hint}") from None
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise PrepareError(f"could not download {url} ({_reason(e, timeout)}); {hint}") from None
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this is an ordinary data file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
