"""Media made in the tests: synthetic videos and animations, and hostile files."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.conftest import FIXTURES


def moving_frames(count: int, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    """Frames of a textured field (random 8-pixel blocks) sliding 3 pixels a frame.

    The texture gives every frame a PDQ quality well over the usual minimum,
    and the motion makes frames a second apart hash differently.
    """
    width, height = size
    blocks = np.random.default_rng(0).integers(0, 256, (height // 8 + 1, width // 8 + 60, 3))
    field = np.kron(blocks, np.ones((8, 8, 1))).astype(np.uint8)
    return [np.ascontiguousarray(field[:height, 3 * i : 3 * i + width]) for i in range(count)]


def write_video(path: Path, fps: float = 30, count: int = 90, size=(160, 120)) -> Path:
    """An MPEG-4 (mp4v) video written by OpenCV; frames in BGR order as OpenCV expects."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV could not open an mp4v writer"
    for frame in moving_frames(count, size):
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    return path


def encode_video(
    path: Path,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    count: int = 90,
    size: tuple[int, int] = (160, 120),
    rotation: int | None = None,
) -> Path:
    """A video encoded by FFmpeg (PyAV): the codecs and frame structures of real uploads.

    `options` are the encoder's own (for x264, `g` for the keyframe interval and
    `bf` for B-frames); `rotation` records a display matrix, as phones do.
    """
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = options or {}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for pixels in moving_frames(count, size):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


def ten_hour_video(path: Path) -> bytes:
    """72 real frames whose track header claims 10.2 hours.

    The track's `mdhd` timescale is set to 1, so each frame's 512 ticks are
    read as 512 seconds.
    """
    data = bytearray(write_video(path, fps=30, count=72).read_bytes())
    box = data.find(b"mdhd")
    version = data[box + 4]
    timescale = box + 8 + (16 if version == 1 else 8)
    data[timescale : timescale + 4] = struct.pack(">I", 1)
    return bytes(data)


def animated_gif(frame_ms: int = 500, count: int = 5) -> bytes:
    frames = [Image.fromarray(f) for f in moving_frames(count)]
    out = io.BytesIO()
    frames[0].save(
        out, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
    )
    return out.getvalue()


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real, valid PNG of the given size (1-bit, so it stays small on disk)."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG")
    return out.getvalue()


def jpeg(image: Image.Image, **save_args) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, **save_args)
    return out.getvalue()


def stored_rotated(name: str, orientation: int) -> bytes:
    """A fixture photo stored rotated, with the EXIF tag that displays it upright again."""
    undo = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }
    image = Image.open(FIXTURES / name).transpose(undo[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return jpeg(image, exif=exif)


def letterboxed(name: str, bar: int = 150) -> bytes:
    image = Image.open(FIXTURES / name).convert("RGB")
    boxed = Image.new("RGB", (image.width + 2 * bar, image.height + 2 * bar), "black")
    boxed.paste(image, (bar, bar))
    return jpeg(boxed)
