"""Image files in, the square picture a backbone sees out: preprocessed exactly as the video
recipe's frames are (``seq2seq.video.features.picture``: resize then centre crop, or the whole
picture stretched, with the weights' interpolation), so one ``Extraction`` describes both."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seq2seq.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageError(UserError, ValueError):
    """An image file that cannot be read; the message names it."""


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | Path) -> np.ndarray:
    """The pixels of an image file: (H, W, 3) uint8 RGB (grey and RGBA images converted; an
    animated image gives its first frame)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e}); give a PNG or JPEG file") from None


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An image array as read_image gives a file: (H, W, 3) uint8 RGB from (H, W, 3) RGB,
    (H, W) grey (repeated) or (H, W, 4) RGBA (alpha dropped), uint8."""
    from PIL import Image

    grey, colour = image.ndim == 2, image.ndim == 3 and image.shape[2] in (3, 4)
    if not (grey or colour) or image.dtype != np.uint8 or 0 in image.shape:
        raise ImageError(f"an image array of shape {image.shape} ({image.dtype}); give (H, W, 3) uint8 RGB "
                         "(or (H, W) grey, (H, W, 4) RGBA)")  # fmt: skip
    return image if image.ndim == 3 and image.shape[2] == 3 else np.asarray(Image.fromarray(image).convert("RGB"))


def picture(image: np.ndarray, spec) -> np.ndarray:
    """(size, size, 3) uint8: what the backbone of ``spec`` (a ``seq2seq.video.features.Extraction``)
    sees of ``image`` (H, W, 3) uint8 RGB, scaled by the same code as video frames."""
    import av

    from seq2seq.video.features import picture as frame_picture

    return frame_picture(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"), spec)
