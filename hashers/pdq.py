"""PDQ, the perceptual image hash the industry exchanges, computed bit for bit as
its reference does (see "The hash itself" below).

Hashing fewer pixels is the main lever on speed on large images: PDQ's cost
is linear in the pixel count, and so is decoding. Reducing an image changes
PDQ's result unless two of PDQ's own size-dependent choices are preserved:

* its blur window, `ceil(n / 128)` pixels per axis, must scale with the image,
  so a reduction by `s` is only used where `s * window(n / s)` stays within
  `WINDOW_TOLERANCE` of `window(n)` on both axes, and the reduced image keeps
  at least `MIN_REDUCED_SIDE` pixels on its short side;
* its 64 sample points, `int((i + 0.5) * n / 64)` after two box passes that
  each centre half a pixel right, land at different places in the reduced
  image; `phase_offset` computes how far, and `align` shifts the reduced
  pixels by that fraction of a pixel (a bilinear translation, about a
  millisecond at these sizes).

Reduced pixels come from the JPEG decoder's DCT scaling or from box averaging,
both of which make reduced pixel `k` the mean of full pixels `s*k .. s*k+s-1`.
See docs/benchmarks.md for the drift this leaves against full resolution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from hashers.opencv import cv2
from hashers.signals import PDQ, Signal

Pixels = npt.NDArray[np.uint8]

SCALES = (8, 4, 2)
MIN_REDUCED_SIDE = 500
WINDOW_TOLERANCE = 1.07

#: Names of PDQ's eight dihedral variants, in the reference's order.
DIHEDRAL_VARIANTS = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flip_plus1",
    "flip_minus1",
)


def _window(length: int) -> int:
    """PDQ's Jarosz box-filter window for an axis of `length` pixels (downsampled to 64)."""
    return (length + 127) // 128


def reduced_length(length: int, scale: int) -> int:
    return -(-length // scale)


def pdq_scale(width: int, height: int) -> int:
    """The largest reduction (1, 2, 4 or 8) whose PDQ stays close to full resolution."""
    for scale in SCALES:
        sides = [(length, reduced_length(length, scale)) for length in (width, height)]
        if min(reduced for _, reduced in sides) < MIN_REDUCED_SIDE:
            continue
        if all(
            scale * _window(reduced) <= WINDOW_TOLERANCE * _window(length)
            for length, reduced in sides
        ):
            return scale
    return 1


def phase_offset(length: int, scale: int) -> float:
    """Reduced pixels to shift by so that PDQ samples where it would at full resolution.

    At full resolution sample `i` sees a kernel centred on full pixel
    `int((i + 0.5) * length / 64) + 1`; in the reduced image the kernel is at
    reduced pixel `int((i + 0.5) * reduced / 64) + 1`, whose centre is full
    pixel `scale * k + (scale - 1) / 2`. The mean difference, in reduced
    pixels, is the shift.
    """
    if scale == 1:
        return 0.0
    reduced = reduced_length(length, scale)
    centres = np.arange(64) + 0.5
    full = np.floor(centres * length / 64) + 1
    ours = np.floor(centres * reduced / 64) + 1
    return float(np.mean((full - (scale - 1) / 2) / scale - ours))


def align(pixels: Pixels, full_width: int, full_height: int, scale: int) -> Pixels:
    """Reduced pixels translated so that PDQ's sample grid matches full resolution.

    out[y, x] = pixels[y + dy, x + dx], bilinear, edges repeated.
    """
    dx, dy = phase_offset(full_width, scale), phase_offset(full_height, scale)
    if dx == dy == 0:
        return pixels
    shift = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    moved = cv2.warpAffine(
        pixels,
        shift,
        (pixels.shape[1], pixels.shape[0]),
        flags=flags,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(moved, dtype=np.uint8)


# The hash itself --------------------------------------------------------------------
#
# PDQ as its authors specify it (and their reference code computes it): float
# luma from RGB, a Jarosz filter (two passes of box blurs along rows, then
# columns, windows `ceil(n / 128)`), 64x64 samples, the 16x16 low frequencies
# of their DCT (the DC term left out), one bit per coefficient above the
# median; quality from the samples' gradients. Computed here, operation for
# operation, so the bits equal pdqhash's (`tests/test_hashers.py` checks): in
# one compiled kernel that releases the GIL and streams the filter through a
# few rows of cache (`_jarosz_samples`), where pdqhash's wrapper builds its
# luma in three full-size float64 temporaries and its column passes stride
# across memory. Allocating full-size planes per hash cost more than the
# arithmetic at some sizes (the allocator's fresh pages, faulted in each time).

#: PDQ's 16x64 DCT basis: row i is frequency i + 1.
_DCT_BASIS = np.array(
    [
        [
            float(np.float32(math.sqrt(2.0 / 64)))
            * math.cos((math.pi / 2.0 / 64) * (i + 1) * (2 * j + 1))
            for j in range(64)
        ]
        for i in range(16)
    ],
    dtype=np.float32,
)
#: Images smaller than this on a side hash to all zeros, quality 0 (as the reference).
MIN_HASHABLE_SIDE = 5


@njit(nogil=True, cache=True)
def _box_row(src, dst, window):  # type: ignore[no-untyped-def]
    """A box blur along one row, as PDQ's reference: the window is centred, and
    shrinks at the edges."""
    half = (window + 2) // 2
    total = np.float32(0.0)
    size = right = left = out = 0
    for _ in range(half - 1):
        total += src[right]
        size += 1
        right += 1
    for _ in range(window - half + 1):
        total += src[right]
        size += 1
        dst[out] = total / np.float32(size)
        right += 1
        out += 1
    for _ in range(src.shape[0] - window):
        total += src[right]
        total -= src[left]
        dst[out] = total / np.float32(size)
        left += 1
        right += 1
        out += 1
    for _ in range(half - 1):
        total -= src[left]
        size -= 1
        dst[out] = total / np.float32(size)
        left += 1
        out += 1


@njit(nogil=True, cache=True)
def _box_rows(src, dst, window):  # type: ignore[no-untyped-def]
    """`_box_row` on every row, four rows side by side: one row's running sum is a
    chain of dependent additions, four independent chains keep the core busy (twice
    as fast, the same operations in the same order per row)."""
    rows, cols = src.shape
    half = (window + 2) // 2
    fours = rows - rows % 4
    for i in range(0, fours, 4):
        a, b, c, d = src[i], src[i + 1], src[i + 2], src[i + 3]
        out_a, out_b, out_c, out_d = dst[i], dst[i + 1], dst[i + 2], dst[i + 3]
        sum_a = sum_b = sum_c = sum_d = np.float32(0.0)
        size = right = left = out = 0
        for _ in range(half - 1):
            sum_a += a[right]
            sum_b += b[right]
            sum_c += c[right]
            sum_d += d[right]
            size += 1
            right += 1
        for _ in range(window - half + 1):
            sum_a += a[right]
            sum_b += b[right]
            sum_c += c[right]
            sum_d += d[right]
            size += 1
            n = np.float32(size)
            out_a[out], out_b[out], out_c[out], out_d[out] = (
                sum_a / n,
                sum_b / n,
                sum_c / n,
                sum_d / n,
            )
            right += 1
            out += 1
        n = np.float32(size)
        for _ in range(cols - window):
            sum_a += a[right]
            sum_b += b[right]
            sum_c += c[right]
            sum_d += d[right]
            sum_a -= a[left]
            sum_b -= b[left]
            sum_c -= c[left]
            sum_d -= d[left]
            out_a[out], out_b[out], out_c[out], out_d[out] = (
                sum_a / n,
                sum_b / n,
                sum_c / n,
                sum_d / n,
            )
            left += 1
            right += 1
            out += 1
        for _ in range(half - 1):
            sum_a -= a[left]
            sum_b -= b[left]
            sum_c -= c[left]
            sum_d -= d[left]
            size -= 1
            n = np.float32(size)
            out_a[out], out_b[out], out_c[out], out_d[out] = (
                sum_a / n,
                sum_b / n,
                sum_c / n,
                sum_d / n,
            )
            left += 1
            out += 1
    for i in range(fours, rows):
        _box_row(src[i], dst[i], window)


@njit(nogil=True, cache=True)
def _box_cols(src, dst, window):  # type: ignore[no-untyped-def]
    """`_box_rows` down each column, every column at once, so memory is read row by row
    (the same sums in the same order per column)."""
    rows, cols = src.shape
    half = (window + 2) // 2
    total = np.zeros(cols, dtype=np.float32)
    size = 0
    right = 0
    left = 0
    out = 0
    for _ in range(half - 1):
        for j in range(cols):
            total[j] += src[right, j]
        size += 1
        right += 1
    for _ in range(window - half + 1):
        size += 1
        divisor = np.float32(size)
        for j in range(cols):
            total[j] += src[right, j]
            dst[out, j] = total[j] / divisor
        right += 1
        out += 1
    divisor = np.float32(size)
    for _ in range(rows - window):
        for j in range(cols):
            total[j] += src[right, j]
            total[j] -= src[left, j]
            dst[out, j] = total[j] / divisor
        left += 1
        right += 1
        out += 1
    for _ in range(half - 1):
        size -= 1
        divisor = np.float32(size)
        for j in range(cols):
            total[j] -= src[left, j]
            dst[out, j] = total[j] / divisor
        left += 1
        out += 1


#: Each channel's share of luma for each of its 256 values, in double precision: a
#: pixel's luma is their sum rounded to float, exactly the luma of pdqhash (which
#: multiplies and adds in double), at half the cost of multiplying.
_LUMA_TABLES = np.array(
    [[value * weight for value in range(256)] for weight in (0.299, 0.587, 0.114)],
    dtype=np.float64,
)


@njit(nogil=True, cache=True)
def _luma_rows(rgb, start, count, luma_tables, out):  # type: ignore[no-untyped-def]
    """Float luma of `count` rows of RGB from row `start`, into the first rows of `out`."""
    red, green, blue = luma_tables[0], luma_tables[1], luma_tables[2]
    for r in range(count):
        pixels, luma = rgb[start + r], out[r]
        for j in range(pixels.shape[0]):
            luma[j] = np.float32(red[pixels[j, 0]] + green[pixels[j, 1]] + blue[pixels[j, 2]])


@njit(nogil=True, cache=True)
def _first_row_pass(rgb, start, ring, luma, luma_tables, window):  # type: ignore[no-untyped-def]
    """Rows `start`.. (four, or what is left) of the first row pass, into their ring slots."""
    count = min(4, rgb.shape[0] - start)
    slot = start % ring.shape[0]
    _luma_rows(rgb, start, count, luma_tables, luma)
    _box_rows(luma[:count], ring[slot : slot + count], window)


@njit(nogil=True, cache=True)
def _second_row_pass(block, count, first, window, blurred, narrow, columns):  # type: ignore[no-untyped-def]
    """The second row pass on `count` rows of the first column pass, kept at the sampled columns."""
    _box_rows(block[:count], blurred[:count], window)
    for r in range(count):
        for k in range(64):
            narrow[first + r, k] = blurred[r, columns[k]]


@njit(nogil=True, cache=True)
def _jarosz_samples(rgb, luma_tables):  # type: ignore[no-untyped-def]
    """PDQ's 64x64 samples of the Jarosz filter (row pass, column pass, twice), streamed.

    The same sums in the same order as four full-size passes, but no full-size
    plane is ever held: the first row pass fills a ring of rows just ahead of
    the first column pass, which hands each row it finishes to the second row
    pass, whose results are kept only at the 64 sampled columns (the only ones
    the last column pass is read at). What is touched stays in the CPU's cache,
    and nothing the size of the image is allocated per hash.
    """
    rows, cols = rgb.shape[0], rgb.shape[1]
    row_window, col_window = (cols + 127) // 128, (rows + 127) // 128
    half = (col_window + 2) // 2
    # Slots for the rows a column sum spans, plus a block of four computed ahead.
    ring = np.empty(((col_window + 7) // 4 * 4, cols), dtype=np.float32)
    luma = np.empty((4, cols), dtype=np.float32)
    block = np.empty((4, cols), dtype=np.float32)
    blurred = np.empty((4, cols), dtype=np.float32)
    narrow = np.empty((rows, 64), dtype=np.float32)
    columns = np.empty(64, dtype=np.int64)
    for k in range(64):
        columns[k] = int(((k + 0.5) * cols) / 64)
    total = np.zeros(cols, dtype=np.float32)
    ready = size = right = left = out = 0
    slots = ring.shape[0]
    # Phase by phase as `_box_cols`: fill, grow, slide, shrink.
    for _ in range(half - 1):
        if right >= ready:
            _first_row_pass(rgb, ready, ring, luma, luma_tables, row_window)
            ready += 4
        incoming = ring[right % slots]
        for j in range(cols):
            total[j] += incoming[j]
        size += 1
        right += 1
    for phase in range(3):
        steps = (col_window - half + 1, rows - col_window, half - 1)[phase]
        for _ in range(steps):
            if phase < 2 and right >= ready:
                _first_row_pass(rgb, ready, ring, luma, luma_tables, row_window)
                ready += 4
            if phase == 0:
                size += 1
            elif phase == 2:
                size -= 1
            divisor = np.float32(size)
            row = block[out % 4]
            if phase == 0:
                incoming = ring[right % slots]
                for j in range(cols):
                    total[j] += incoming[j]
                    row[j] = total[j] / divisor
                right += 1
            elif phase == 1:
                incoming, outgoing = ring[right % slots], ring[left % slots]
                for j in range(cols):
                    total[j] += incoming[j]
                    total[j] -= outgoing[j]
                    row[j] = total[j] / divisor
                right += 1
                left += 1
            else:
                outgoing = ring[left % slots]
                for j in range(cols):
                    total[j] -= outgoing[j]
                    row[j] = total[j] / divisor
                left += 1
            if out % 4 == 3 or out == rows - 1:
                first = out - out % 4
                _second_row_pass(
                    block, out - first + 1, first, row_window, blurred, narrow, columns
                )
            out += 1
    final = np.empty_like(narrow)
    _box_cols(narrow, final, col_window)
    samples = np.empty((64, 64), dtype=np.float32)
    for i in range(64):
        samples[i, :] = final[int(((i + 0.5) * rows) / 64)]
    return samples


@njit(nogil=True, cache=True)
def _pdq_dct(rgb, basis, luma_tables):  # type: ignore[no-untyped-def]
    """The 16x16 DCT coefficients and the quality of RGB uint8 pixels."""
    rows, cols = rgb.shape[0], rgb.shape[1]
    if rows < MIN_HASHABLE_SIDE or cols < MIN_HASHABLE_SIDE:
        return np.zeros((16, 16), dtype=np.float32), 0
    if rows == 64 and cols == 64:
        samples = np.empty((64, 64), dtype=np.float32)
        _luma_rows(rgb, 0, 64, luma_tables, samples)
    else:
        samples = _jarosz_samples(rgb, luma_tables)
    gradients = 0
    hundred, full_scale = np.float32(100), np.float32(255)
    for i in range(63):
        for j in range(64):
            gradients += abs(int((samples[i, j] - samples[i + 1, j]) * hundred / full_scale))
    for i in range(64):
        for j in range(63):
            gradients += abs(int((samples[i, j] - samples[i, j + 1]) * hundred / full_scale))
    partial = np.empty((16, 64), dtype=np.float32)
    for i in range(16):
        for j in range(64):
            total = np.float32(0.0)
            for k in range(64):
                total += basis[i, k] * samples[k, j]
            partial[i, j] = total
    coefficients = np.empty((16, 16), dtype=np.float32)
    for i in range(16):
        for j in range(16):
            total = np.float32(0.0)
            for k in range(64):
                total += partial[i, k] * basis[j, k]
            coefficients[i, j] = total
    return coefficients, min(gradients // 90, 100)


def _hex(coefficients: npt.NDArray[np.float32]) -> str:
    """The hash of 16x16 coefficients: a bit per coefficient above their lower median
    (the 128th smallest), the last coefficient first, as 64 hex digits."""
    flat = coefficients.ravel()
    median = np.partition(flat, 127)[127]
    return np.packbits((flat > median)[::-1]).tobytes().hex()


#: What rotating or flipping the image does to its coefficients: (transposed, sign
#: of each coefficient by its row and column), by variant name.
_ROW, _COLUMN = np.indices((16, 16))
_ODD_ROW, _ODD_COLUMN = (_ROW % 2 == 1), (_COLUMN % 2 == 1)
_EVEN_SUM = (_ROW + _COLUMN) % 2 == 0
_DIHEDRAL = {
    "rotate90": (True, np.where(_ODD_COLUMN, 1, -1)),
    "rotate180": (False, np.where(_EVEN_SUM, 1, -1)),
    "rotate270": (True, np.where(_ODD_ROW, 1, -1)),
    "flipx": (False, np.where(_ODD_ROW, 1, -1)),
    "flipy": (False, np.where(_ODD_COLUMN, 1, -1)),
    "flip_plus1": (True, np.ones((16, 16), dtype=np.int64)),
    "flip_minus1": (True, np.where(_EVEN_SUM, 1, -1)),
}


def _coefficients(pixels: Pixels) -> tuple[npt.NDArray[np.float32], int]:
    coefficients, quality = _pdq_dct(
        np.ascontiguousarray(pixels, dtype=np.uint8), _DCT_BASIS, _LUMA_TABLES
    )
    return coefficients, int(quality)


def pdq_from_rgb(pixels: Pixels) -> tuple[str, int]:
    """PDQ hash and quality (0-100) of RGB uint8 pixels of shape (height, width, 3)."""
    coefficients, quality = _coefficients(pixels)
    return _hex(coefficients), quality


def pdq_dihedral_from_rgb(pixels: Pixels) -> tuple[dict[str, str], int]:
    """The eight rotation/flip variants from one pass, by name, and the quality."""
    coefficients, quality = _coefficients(pixels)
    variants = {"original": _hex(coefficients)}
    for name, (transposed, sign) in _DIHEDRAL.items():
        turned = (coefficients * sign).astype(np.float32)
        variants[name] = _hex(turned.T if transposed else turned)
    return {name: variants[name] for name in DIHEDRAL_VARIANTS}, quality


def pdq_signal(pixels: Pixels, quality_min: int, dihedral: bool = False) -> Signal:
    """The PDQ signal of prepared pixels; with `dihedral`, its variants ride along."""
    extra: dict[str, Any] = {}
    if dihedral:
        variants, quality = pdq_dihedral_from_rgb(pixels)
        value = variants.pop("original")
        extra["variants"] = variants
    else:
        value, quality = pdq_from_rgb(pixels)
    return Signal(PDQ.name, value, quality=quality, usable=quality >= quality_min, extra=extra)
