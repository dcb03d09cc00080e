"""The pixels imgbench makes itself (besides photographs, ``imgbench.measure.photos``):
``synthesize_image``, photo-like images (content ``synthetic``), and ``noise_image``, the
uniform random arrays of study 002 (content ``noise``). Image ``index`` of a seed is the
same whatever else is made, so a dataset of n images is the first n of a larger one.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def channels(color: str) -> tuple[int, ...]:
    """The trailing shape of one pixel: (3,) for RGB, () for greyscale."""
    return (3,) if color == "rgb" else ()


#: Noise pixels are drawn from [0, NOISE_HIGH): 0..254, as study 002's
#: ``np.random.randint(0, 255, ...)`` (whose upper bound is exclusive) drew them.
NOISE_HIGH = 255


def synthesize_image(
    width: int, height: int, seed: int, index: int, color: str = "rgb"
) -> np.ndarray:
    """Image ``index`` of ``seed``: ``uint8`` of shape (height, width, 3), or (height, width)
    for greyscale (the RGB image converted with Pillow's luma weights)."""
    rng = np.random.default_rng([seed, index])
    # Smooth structure is computed on a coarse grid and upsampled: photos are mostly
    # low-frequency, and this keeps generation cheap for large images.
    cw, ch = max(2, width // 8), max(2, height // 8)
    y, x = np.mgrid[0:ch, 0:cw].astype(np.float32)
    coarse = np.empty((ch, cw, 3), np.float32)
    for c in range(3):
        gx, gy, phase = rng.uniform(-1.0, 1.0, 3)
        fx, fy = rng.uniform(0.5, 4.0, 2)
        coarse[..., c] = (
            128.0
            + 60.0 * (gx * x / cw + gy * y / ch)
            + 35.0 * np.sin((fx * x / cw + fy * y / ch) * np.pi * 2.0 + phase * 3.0)
        )
    base = Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    draw = ImageDraw.Draw(base)
    short = min(width, height)
    for _ in range(int(rng.integers(6, 14))):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(max(1, short // 12), max(2, short // 3)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = [cx - r, cy - int(r * rng.uniform(0.5, 1.5)), cx + r, cy + r]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(max(0.5, short / 400)))
    noise = rng.integers(-6, 7, size=(height, width, 3), dtype=np.int16)
    rgb = np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    if color == "grey":
        return np.asarray(Image.fromarray(rgb).convert("L"))
    return rgb


def noise_image(width: int, height: int, seed: int, index: int, color: str = "rgb") -> np.ndarray:
    """Image ``index`` of ``seed``: every pixel (each channel for RGB) uniform over
    0..``NOISE_HIGH`` - 1, independently. Study 002 drew its arrays the same way with numpy's
    legacy global generator (unseeded, so never reproducible); here they come from the seed."""
    rng = np.random.default_rng([seed, index])
    shape = (height, width, *channels(color))
    return rng.integers(0, NOISE_HIGH, size=shape, dtype=np.uint8)
