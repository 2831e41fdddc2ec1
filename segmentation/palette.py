"""The six land-cover classes and their mask colours.

The table is the one in the dataset's README, checked against the images
(#E2A929 covers the sea, #3C1098 covers roofs). Some copies of the dataset ship
a ``classes.json`` with a wrong colour table; this module never reads it.
Pure black (#000000) pixels belong to no class and are mapped to Unlabeled.
"""
from __future__ import annotations

import numpy as np

CLASSES: tuple[str, ...] = ("Building", "Land", "Road", "Vegetation", "Water", "Unlabeled")
COLOURS: tuple[tuple[int, int, int], ...] = (
    (60, 16, 152),    # #3C1098 Building
    (132, 41, 246),   # #8429F6 Land
    (110, 193, 228),  # #6EC1E4 Road
    (254, 221, 58),   # #FEDD3A Vegetation
    (226, 169, 41),   # #E2A929 Water
    (155, 155, 155),  # #9B9B9B Unlabeled
)
NUM_CLASSES = len(CLASSES)
UNLABELED = CLASSES.index("Unlabeled")
BLACK = (0, 0, 0)


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def rgb_to_class(mask_rgb: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Map an (H, W, 3) uint8 RGB mask to (H, W) uint8 class indices.

    Returns the class map and a dict ``{"#RRGGBB": pixel_count}`` of colours that
    are neither in the palette nor pure black (empty when the mask is clean).
    Pixels of unknown colours are set to Unlabeled in the returned map.
    """
    if mask_rgb.ndim != 3 or mask_rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB mask, got shape {mask_rgb.shape}")
    codes = _codes(mask_rgb)
    out = np.full(codes.shape, 255, dtype=np.uint8)
    for k, colour in enumerate(COLOURS):
        out[codes == _codes(np.array(colour, dtype=np.uint8))] = k
    out[codes == 0] = UNLABELED
    unknown: dict[str, int] = {}
    bad = out == 255
    if bad.any():
        values, counts = np.unique(codes[bad], return_counts=True)
        for v, c in zip(values.tolist(), counts.tolist()):
            unknown[hex_colour(((v >> 16) & 255, (v >> 8) & 255, v & 255))] = int(c)
        out[bad] = UNLABELED
    return out, unknown


def class_to_rgb(classes: np.ndarray) -> np.ndarray:
    """Map an (H, W) array of class indices to an (H, W, 3) uint8 RGB mask."""
    lut = np.array(COLOURS, dtype=np.uint8)
    if classes.size and int(classes.max()) >= NUM_CLASSES:
        raise ValueError(f"class index {int(classes.max())} out of range 0..{NUM_CLASSES - 1}")
    return lut[classes]
