import dataclasses

import numpy as np
import pytest
from PIL import Image

from segmentation.data import DatasetError, prepare, to_patches
from segmentation.profiles import PROFILES, Profile
from tests.conftest import write_pair, write_sums

TINY = Profile(name="tiny", scale=1.0, patch=16, max_epochs=3, encoders=("resnet18",), encoder_depth=3,
               decoder_widths=(8,), batch_sizes=(2,), images={1: (1, 2, 9), 5: (1,)},
               default=dict(PROFILES["smoke"].default, batch_size=2))


def test_prepare_splits_by_whole_image_and_caches(tiny_dataset, tmp_path):
    d = prepare(TINY, tiny_dataset, tmp_path / "cache")
    # 40x48 cropped to 32x48 -> 2x3 = 6 patches of 16 per image
    assert d.counts() == {"train": 12, "val": 6, "test": 6}
    assert not d.from_cache
    assert prepare(TINY, tiny_dataset, tmp_path / "cache").from_cache
    other = dataclasses.replace(TINY, patch=8)
    assert not prepare(other, tiny_dataset, tmp_path / "cache").from_cache  # key includes the patch size
    x, y = d.arrays["train"]
    assert x.dtype == np.uint8 and y.dtype == np.uint8 and x.shape[1:] == (16, 16, 3)


def test_patches_are_exact_crops():
    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    cls = np.arange(35, dtype=np.uint8).reshape(5, 7)
    x, y = to_patches(img, cls, 2)  # crops to 4x6 -> 2x3 patches
    assert x.shape == (6, 2, 2, 3)
    assert (y[4] == cls[2:4, 2:4]).all()
    assert (x[5] == img[2:4, 4:6]).all()


def test_changed_file_invalidates_cache(tiny_dataset, tmp_path):
    prepare(TINY, tiny_dataset, tmp_path / "c")
    write_pair(tiny_dataset, 1, 1, seed=42)
    write_sums(tiny_dataset)
    assert not prepare(TINY, tiny_dataset, tmp_path / "c").from_cache


def test_missing_folder_says_where_and_how(tmp_path):
    with pytest.raises(DatasetError, match=r"looked in .*nowhere.*Kaggle"):
        prepare(TINY, tmp_path / "nowhere", tmp_path / "c")


def test_truncated_image_names_file(tiny_dataset, tmp_path):
    p = tiny_dataset / "Tile 1" / "images" / "image_part_002.jpg"
    p.write_bytes(p.read_bytes()[:200])
    (tiny_dataset / "SHA256SUMS").unlink()
    with pytest.raises(DatasetError, match=r"image_part_002\.jpg.*(unreadable|truncated)"):
        prepare(TINY, tiny_dataset, tmp_path / "c")


def test_size_mismatch_names_both_files(tiny_dataset, tmp_path):
    write_pair(tiny_dataset, 1, 2, size=(40, 48), img_size=(40, 50))
    write_sums(tiny_dataset)
    with pytest.raises(DatasetError, match=r"size mismatch.*image_part_002\.jpg is 50x40.*48x40"):
        prepare(TINY, tiny_dataset, tmp_path / "c")


def test_unknown_colour_names_colour_and_count(tiny_dataset, tmp_path):
    m = tiny_dataset / "Tile 1" / "masks" / "image_part_001.png"
    arr = np.array(Image.open(m).convert("RGB"))
    arr[:3, :5] = (12, 34, 56)
    Image.fromarray(arr).save(m)
    write_sums(tiny_dataset)
    with pytest.raises(DatasetError, match=r"image_part_001\.png.*#0C2238 \(15 px\)"):
        prepare(TINY, tiny_dataset, tmp_path / "c")


def test_black_pixels_are_accepted(tiny_dataset, tmp_path):
    m = tiny_dataset / "Tile 1" / "masks" / "image_part_001.png"
    arr = np.array(Image.open(m).convert("RGB"))
    arr[:16, :16] = 0
    Image.fromarray(arr).save(m)
    write_sums(tiny_dataset)
    d = prepare(TINY, tiny_dataset, tmp_path / "c")
    assert (d.arrays["train"][1][0] == 5).all()  # first patch of image 1 is all Unlabeled


def test_checksum_mismatch_names_file(tiny_dataset, tmp_path):
    m = tiny_dataset / "Tile 5" / "masks" / "image_part_001.png"
    arr = np.array(Image.open(m).convert("RGB"))
    arr[0, 0] = arr[0, 1] if tuple(arr[0, 0]) != tuple(arr[0, 1]) else (0, 0, 0)
    Image.fromarray(arr).save(m)
    with pytest.raises(DatasetError, match=r"checksum mismatch for .*Tile 5/masks/image_part_001\.png"):
        prepare(TINY, tiny_dataset, tmp_path / "c")


def test_real_data_split_counts(real_data, tmp_path):
    d = prepare(PROFILES["cpu"], real_data)
    c = d.counts()
    assert c == {"train": 1048, "val": 131, "test": 144}
    splits = {PROFILES["cpu"].split_of(t, i) for t, i in PROFILES["cpu"].selected() if t == 5}
    assert splits == {"test"}
    vals = [(t, i) for t, i in PROFILES["cpu"].selected() if PROFILES["cpu"].split_of(t, i) == "val"]
    assert vals == [(t, 9) for t in (1, 2, 3, 4, 6, 7, 8)]
