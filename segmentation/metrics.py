"""Segmentation metrics from dataset-level summed confusion counts (micro).

``confusion[t, p]`` counts pixels of true class ``t`` predicted as ``p``, summed
over every pixel of a split; scores are computed once from the totals, never
averaged over batches. A class whose denominator is zero gets NaN and is left
out of the mean.
"""
from __future__ import annotations

import numpy as np


def confusion(target: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 confusion counts of two integer tensors of the same shape."""
    import torch  # here, not at import: scores() serves the paper and recipe reports without torch
    if target.shape != pred.shape:
        raise ValueError(f"target shape {tuple(target.shape)} != prediction shape {tuple(pred.shape)}")
    idx = target.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def scores(conf: np.ndarray | torch.Tensor) -> dict:
    """Per-class IoU, precision, recall and their NaN-skipping means, plus pixel accuracy.

    IoU = TP / (TP + FP + FN), precision = TP / (TP + FP), recall = TP / (TP + FN).
    Returns plain Python floats and lists (NaN where a class is absent from both).
    """
    c = np.asarray(conf.cpu() if hasattr(conf, "cpu") else conf, dtype=np.float64)  # a torch tensor, or an array
    tp = np.diag(c)
    fp = c.sum(0) - tp
    fn = c.sum(1) - tp
    iou = _ratio(tp, tp + fp + fn)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    total = c.sum()
    return {
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "iou": iou.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
    }
