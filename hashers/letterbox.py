"""Trimming uniform borders (letterboxing, pillarboxing) before hashing.

Re-posted images and video frames often gain bars; PDQ then describes the bars
as much as the picture. A border line is one whose pixels all lie within
`TOLERANCE` grey levels of the colour in the image's corner, scanned inwards
from each edge. Nothing is trimmed if that would leave less than
`MIN_KEPT_FRACTION` of a side: a uniform image is content, not a border.
"""

from __future__ import annotations

import numpy as np

from hashers.pdq import Pixels

TOLERANCE = 16
MIN_KEPT_FRACTION = 0.1


def _border_lines(uniform: np.ndarray) -> int:
    """How many leading entries of a boolean line mask are True."""
    if uniform.all():
        return len(uniform)
    return int(np.argmin(uniform))


def content_box(pixels: Pixels) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the area inside uniform borders (bottom/right exclusive)."""
    luma = pixels.astype(np.int16).mean(axis=2) if pixels.ndim == 3 else pixels.astype(np.int16)
    height, width = luma.shape
    corner = float(np.median(np.concatenate([luma[0], luma[-1], luma[:, 0], luma[:, -1]])))
    near = np.abs(luma - corner) <= TOLERANCE
    rows, cols = near.all(axis=1), near.all(axis=0)
    top, bottom = _border_lines(rows), height - _border_lines(rows[::-1])
    left, right = _border_lines(cols), width - _border_lines(cols[::-1])
    if bottom - top < MIN_KEPT_FRACTION * height or right - left < MIN_KEPT_FRACTION * width:
        return 0, height, 0, width
    return top, bottom, left, right


def unletterbox(pixels: Pixels) -> Pixels:
    top, bottom, left, right = content_box(pixels)
    return pixels[top:bottom, left:right]
