"""Model FLOPs per image and model-FLOPs utilisation (MFU) against a device's peak bf16 rate.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``: matrix multiplications and
convolutions (forward and backward), 2 FLOPs per multiply-add; element-wise work (activations,
normalisation, the optimiser) is not counted, as is usual for MFU.

Peak rates are the vendors' published dense (no sparsity) bf16 tensor-core rates, in FLOP/s.
A device not in the table gets ``None`` ("unknown"): no peak is ever guessed.
"""
from __future__ import annotations

import re

import torch
from torch.utils.flop_counter import FlopCounterMode

# (regular expressions that must all match torch.cuda.get_device_name(), case-insensitive; name;
# dense bf16 FLOP/s). The first row that matches wins, so the more specific rows come first.
PEAK_BF16: tuple[tuple[tuple[str, ...], str, float], ...] = (
    ((r"\bh100\b", r"\bpcie\b"), "NVIDIA H100 PCIe", 756e12),
    ((r"\bh100\b", r"\bhbm3\b"), "NVIDIA H100 SXM", 989e12),  # its name: "NVIDIA H100 80GB HBM3"
    ((r"\bh100\b", r"\bsxm"), "NVIDIA H100 SXM", 989e12),
    ((r"\bh200\b",), "NVIDIA H200", 989e12),                  # the H100 SXM's tensor cores
    ((r"\ba100\b",), "NVIDIA A100", 312e12),                  # SXM and PCIe have the same peak
    ((r"\bl40s\b",), "NVIDIA L40S", 362e12),
    ((r"\bl4\b",), "NVIDIA L4", 121e12),
)


def peak_bf16(device_name: str | None) -> dict:
    """``{"device": name, "peak_flops": FLOP/s or None, "assumed": table row or "unknown"}``."""
    name = device_name or ""
    for patterns, label, flops in PEAK_BF16:
        if all(re.search(p, name, re.IGNORECASE) for p in patterns):
            return {"device": device_name, "peak_flops": flops, "assumed": f"{label}, dense bf16"}
    return {"device": device_name, "peak_flops": None, "assumed": "unknown"}


def count_flops(model: torch.nn.Module, patch: int, device: torch.device, batch: int = 2) -> dict:
    """FLOPs per image of one forward pass and of one training step (forward + backward).

    Counted on ``batch`` random images of ``patch`` x ``patch`` pixels in training mode; the
    model's gradients are cleared afterwards. Returns ``{"forward": FLOPs, "train": FLOPs}``
    per image.
    """
    model.train()
    x = torch.rand(batch, 3, patch, patch, device=device)
    with FlopCounterMode(display=False) as fwd:
        out = model(x)
    forward = fwd.get_total_flops()
    with FlopCounterMode(display=False) as bwd:
        out.float().sum().backward()
    backward = bwd.get_total_flops()
    model.zero_grad(set_to_none=True)
    return {"forward": forward / batch, "train": (forward + backward) / batch}


def mfu(images_per_second: float | None, flops_per_image: float, peak_flops: float | None) -> float | None:
    """Achieved model FLOP/s as a share of the peak (0..1), or None when the peak is unknown."""
    if not peak_flops or not images_per_second:
        return None
    return images_per_second * flops_per_image / peak_flops
