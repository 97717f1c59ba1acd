"""The shared vision pieces: generated scenes, image files, grid features of the packaged backbone."""

from __future__ import annotations

import random

import numpy as np
import pytest

from seq2seq.video.layout import LayoutError
from seq2seq.vision.grid import GridExtractor, extract_images, grid_spec, load_grid, read_extraction
from seq2seq.vision.images import ImageError, picture, read_image
from seq2seq.vision.scenes import COLS, ROWS, Scene, Thing, draw, place, random_scene, read_scenes, write_scenes


def test_scenes_are_deterministic_and_things_sit_in_their_cells(tmp_path):
    rng = random.Random(3)
    scenes = [random_scene(rng, 1, 4) for _ in range(50)]
    for scene in scenes:
        cells = [(t.row, t.col) for t in scene.things]
        assert len(cells) == len(set(cells)) and 1 <= len(cells) <= 4
    one = Scene((Thing("square", "red", 0, 2),))
    image = draw(one, size=96, seed=5)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert np.array_equal(image, draw(one, size=96, seed=5))
    # The red square is in the top right cell: redness peaks there, not in the other cells.
    red = image[..., 0].astype(int) - image[..., 1:].mean(axis=2)
    per_cell = red.reshape(3, 32, 3, 32).mean(axis=(1, 3))
    assert np.unravel_index(per_cell.argmax(), (3, 3)) == (0, 2)
    assert [place(Thing("circle", "blue", r, c)) for r in range(3) for c in range(3)] == [
        "top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right",
    ]  # fmt: skip
    assert len(ROWS) == len(COLS) == 3
    written = write_scenes(tmp_path, 3, seed=2, size=64)
    assert read_scenes(tmp_path) == written
    assert np.array_equal(read_image(written[0][0]).shape, (64, 64, 3))


def test_unreadable_images_are_one_line_errors(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="broken.png: not a readable image"):
        read_image(bad)
    with pytest.raises(ImageError, match="missing.jpg: no such image file"):
        read_image(tmp_path / "missing.jpg")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    a = write_scenes(root / "a", 3, seed=1, size=96)
    b = write_scenes(root / "b", 2, seed=2, size=96)  # the same file names as a's first two
    return [p for p, _ in a + b]


def test_grid_features_are_the_feature_map_cells_and_are_cached(images, tmp_path):
    spec = grid_spec(size=128)
    out = tmp_path / "feats"
    files = extract_images(images, out, spec)
    assert len(set(files.values())) == len(images)  # same names in two folders stay apart
    grid = load_grid(files[images[0]])
    assert grid.shape == (16, 1280)  # 128 px / stride 32 = 4 x 4 cells
    extractor = GridExtractor(grid_spec(size=128))
    direct = extractor.embed(picture(read_image(images[0]), extractor.spec)[None])[0]
    np.testing.assert_allclose(grid, direct, atol=2e-2 * np.abs(direct).max())  # float16 storage
    # The pooled vector of the cells is the backbone's own pooled feature (what the video recipe uses).
    from seq2seq.video.features import Extractor

    pooled = Extractor(grid_spec(size=128), "cpu").embed(picture(read_image(images[0]), extractor.spec)[None])[0]
    np.testing.assert_allclose(direct.mean(axis=0), pooled, rtol=1e-4, atol=1e-4)
    assert read_extraction(out)["dim"] == 1280
    stamp = files[images[0]].stat().st_mtime_ns
    again = extract_images(images, out, grid_spec(size=128))
    assert again == files and files[images[0]].stat().st_mtime_ns == stamp  # nothing extracted again
    with pytest.raises(LayoutError, match="Use another output folder"):
        extract_images(images, out, grid_spec(size=96))


def test_a_torchvision_backbone_gives_its_last_feature_map(images):
    extractor = GridExtractor(grid_spec("resnet18", "none", size=64))
    assert extractor.grid == (2, 2) and extractor.dim == 512
    assert extractor.image(images[0]).shape == (4, 512)


def test_an_images_features_name_does_not_depend_on_the_others(images):
    from seq2seq.vision.grid import feature_names

    alone = feature_names(images[:1])
    together = feature_names(images)
    assert alone[images[0]] == together[images[0]]
    assert len(set(together.values())) == len(images)
