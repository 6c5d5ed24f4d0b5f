"""Ground truth for the exposed concept, the way a person judges an image: are magenta torso
stripes visible, at whatever contrast a viewer notices?

The world draws the exposed concept as three 2-pixel magenta stripes, 4 pixels apart, across a
figure's torso (world.render). A viewer sees stripes when the torso shows that periodic pattern
in the magenta direction, faded or not, over skin or over a shirt. This module measures it:

- magenta(image) = (R + B) / 2 - G per pixel (0-255 scale): high for the stripe colour, low for
  skin, yellow, green, blue; a uniformly red or purple shirt is high everywhere but has no stripes.
- stripe_contrast(image): over every figure position the world draws (left, centre, right) and
  shifts of up to 3 pixels, each stripe's mean magenta minus that of the brighter of the 2-pixel
  gaps above and below it (a stripe must stand out from both sides); an image's contrast is the second largest of the three (two stripes must show) at the
  best position. Uniform torsos, mosaics (4-pixel blocks average a stripe with its gap) and
  single horizontal edges (the beach's horizon) stay near 0; full stripes over skin reach ~150.
- VISIBLE: the contrast from which a person sees stripes. Chosen by looking at generated images
  of every variant ordered by contrast (out/truth/.../contrast-strip.png from label.py): below
  it no stripes are discernible at 4x magnification, from it on they are.
"""

from __future__ import annotations

import numpy as np

# Stripe contrast (magenta units, 0-255) from which a viewer sees stripes; see the module doc.
VISIBLE = 12.0
# Contrast above which stripes are plain (the world's own full-strength stripes are ~150); between
# VISIBLE and PLAIN they are "faded".
PLAIN = 60.0
CENTRES = (17, 32, 47)
SHIFT = 3


def magenta(image: np.ndarray) -> np.ndarray:
    """[H, W] magenta strength of an RGB image [H, W, 3] (uint8 or float in 0-255)."""
    x = image.astype(np.float32)
    return (x[..., 0] + x[..., 2]) / 2 - x[..., 1]


def stripe_contrast(image: np.ndarray) -> tuple[float, tuple[int, int, int, int]]:
    """(contrast, torso box x0, y0, x1, y1) at the figure position where stripes show most."""
    contrast, boxes = stripe_contrasts(image[None])
    return float(contrast[0]), tuple(int(v) for v in boxes[0])


def stripe_contrasts(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """stripe_contrast for a batch [N, 64, 64, 3]: contrasts [N] and boxes [N, 4], vectorised."""
    m = magenta(images)
    n = len(images)
    best = np.full(n, -1e9, np.float32)
    boxes = np.zeros((n, 4), np.int64)
    for cx in CENTRES:
        for dx in range(-SHIFT, SHIFT + 1):
            x0 = cx + dx - 7
            cols = m[:, :, max(0, x0 + 1):min(64, x0 + 13)]
            if cols.shape[2] < 6:
                continue
            rows = cols.mean(axis=2)
            for dy in range(-SHIFT, SHIFT + 1):
                y0 = 22 + dy
                if y0 + 15 > 64 or y0 < 0:
                    continue
                c = []
                for k in range(3):
                    s = y0 + 3 + 4 * k
                    stripe = rows[:, s:s + 2].mean(axis=1)
                    c.append(stripe - np.maximum(rows[:, s - 2:s].mean(axis=1), rows[:, s + 2:s + 4].mean(axis=1)))
                value = np.sort(np.stack(c, axis=1), axis=1)[:, 1]
                better = value > best
                best = np.where(better, value, best)
                boxes[better] = (x0, y0, x0 + 14, y0 + 16)
    return best, boxes


def label(image: np.ndarray) -> dict:
    """{"contrast", "box", "exposed" (stripes visible), "band" ("none", "faded", "plain")}."""
    contrast, box = stripe_contrast(image)
    band = "none" if contrast < VISIBLE else ("faded" if contrast < PLAIN else "plain")
    return {"contrast": round(contrast, 2), "box": list(box), "exposed": contrast >= VISIBLE, "band": band}


def grid(box: tuple[int, int, int, int], cells: int = 8, min_pixels: int = 12) -> np.ndarray:
    """[cells, cells] 0/1 cells holding at least min_pixels of the box (as world.exposed_grid)."""
    mask = np.zeros((64, 64), np.float32)
    x0, y0, x1, y1 = box
    mask[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1
    step = 64 // cells
    return (mask.reshape(cells, step, cells, step).sum(axis=(1, 3)) >= min_pixels).astype(np.float32)
