"""Whole-image prediction by stitching patches, and colour-mask PNGs in the dataset's palette."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from patchify import patchify, unpatchify
from PIL import Image

from .palette import class_to_rgb
from .train import _autocast, _normalise


@torch.no_grad()
def predict_image(model: torch.nn.Module, image: np.ndarray, patch: int, device: torch.device,
                  batch_size: int = 64) -> np.ndarray:
    """Class map (H, W) uint8 for a whole (H, W, 3) uint8 image.

    The image is padded (reflect) up to a multiple of ``patch``, cut into
    non-overlapping patches, predicted in batches, stitched back with
    ``patchify.unpatchify`` and cropped to the original size.
    """
    h, w = image.shape[:2]
    ph, pw = -h % patch, -w % patch
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")
    grid = patchify(padded, (patch, patch, 3), step=patch)  # (gh, gw, 1, P, P, 3)
    gh, gw = grid.shape[:2]
    flat = torch.from_numpy(grid.reshape(-1, patch, patch, 3)).permute(0, 3, 1, 2).contiguous()
    model.eval()
    preds = []
    for i in range(0, flat.shape[0], batch_size):
        x = _normalise(flat[i:i + batch_size].to(device))
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            preds.append(model(x).float().argmax(1).to(torch.uint8).cpu())
    labels = torch.cat(preds).numpy().reshape(gh, gw, patch, patch)
    full = unpatchify(labels, (gh * patch, gw * patch))
    return np.ascontiguousarray(full[:h, :w]).astype(np.uint8)


def save_mask_png(classes: np.ndarray, path: Path) -> Path:
    """Write a class map as an RGB PNG in the dataset's mask palette."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(class_to_rgb(classes)).save(path)
    return path
