"""Hashing: agreement with reference values, the options, and clear errors for bad media."""

from __future__ import annotations

import csv
import io
import time

import numpy as np
import pdqhash
import pytest
from PIL import Image

from core.errors import InvalidSignal, MediaError, MediaTooLarge, UnknownSignalType
from hashers import (
    PDQ,
    HashingConfig,
    HexSignalType,
    MediaLimits,
    Registry,
    Signal,
    default_registry,
)
from hashers.base import Hasher
from hashers.images import still_pixels
from hashers.media import Media
from hashers.pdq import pdq_scale, phase_offset
from tests.conftest import FIXTURES, fixture_bytes
from tests.media_factory import (
    animated_gif,
    huge_png,
    jpeg,
    letterboxed,
    stored_rotated,
    ten_hour_video,
    write_video,
)

REFERENCE_PATH = HashingConfig(fast_decode=False, exif_orientation=False)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def by_type(signals: list[Signal]) -> dict[str, Signal]:
    return {s.type: s for s in signals}


def pdq_of(registry: Registry, data: bytes, config: HashingConfig | None = None) -> Signal:
    return by_type(registry.hash_bytes(data, config or HashingConfig()))["pdq"]


def distance(a: str, b: str) -> int:
    return PDQ.distance(a, b)


# Reference values -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["aaa-orig.jpg", "blur-a-lot.jpg", "wee.jpg", "small.jpg"])
def test_fixture_signals_match_reference_values(registry, expected, name):
    found = by_type(registry.hash_bytes(fixture_bytes(name), HashingConfig()))
    want = expected[name]
    assert found["pdq"].value == want["pdq"]
    assert found["pdq"].quality == int(want["quality"])
    assert found["md5"].value == want["md5"]
    assert found["sha256"].value == want["sha256"]


def shared_rows(shared_data):
    with open(shared_data / "images" / "expected.csv") as handle:
        return list(csv.DictReader(handle))


def test_reference_decode_path_reproduces_every_pdq(registry, shared_data):
    """Full resolution, stored orientation: exactly pdqhash on Pillow's RGB pixels."""
    rows = shared_rows(shared_data)
    assert len(rows) >= 40
    for row in rows:
        found = pdq_of(registry, (shared_data / row["path"]).read_bytes(), REFERENCE_PATH)
        assert (found.value, found.quality) == (row["pdq"], int(row["quality"])), row["path"]


def test_default_path_is_within_ten_bits_of_the_cpp_reference(registry, shared_data):
    checked = 0
    for row in shared_rows(shared_data):
        if not row["reference_pdq"] or int(row["quality"]) < 80:
            continue
        found = pdq_of(registry, (shared_data / row["path"]).read_bytes())
        assert distance(found.value, row["reference_pdq"]) <= 10, row["path"]
        checked += 1
    assert checked >= 10


def test_every_pillow_mode_hashes(registry, shared_data):
    modes = sorted((shared_data / "images" / "modes").iterdir())
    assert len(modes) >= 13
    original = pdq_of(registry, (shared_data / "images/modes/original.jpg").read_bytes())
    for path in modes:
        found = pdq_of(registry, path.read_bytes())
        assert found.quality == 100, path.name
        assert distance(found.value, original.value) <= 4, path.name


# Quality ----------------------------------------------------------------------------


def test_low_quality_pdq_is_reported_and_marked_unusable(registry):
    pdq = pdq_of(registry, fixture_bytes("small.jpg"))
    assert pdq.quality == 0 and pdq.usable is False and len(pdq.value) == 64
    assert pdq.to_dict() == {"type": "pdq", "value": pdq.value, "quality": 0, "usable": False}


def test_quality_minimum_is_configurable(registry):
    found = by_type(
        registry.hash_bytes(fixture_bytes("aaa-orig.jpg"), HashingConfig(pdq_quality_min=101))
    )
    assert found["pdq"].quality == 100 and found["pdq"].usable is False
    assert found["md5"].usable is True


# EXIF orientation -----------------------------------------------------------------------


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_hashes_what_people_see(registry, expected, orientation):
    stored = stored_rotated("aaa-orig.jpg", orientation)
    upright = pdq_of(registry, stored)
    assert distance(upright.value, expected["aaa-orig.jpg"]["pdq"]) <= 8
    raw = pdq_of(registry, stored, HashingConfig(exif_orientation=False))
    assert distance(raw.value, expected["aaa-orig.jpg"]["pdq"]) > 60


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_on_real_phone_photos(registry, shared_data, orientation):
    """Our upright hash equals hashing the stored pixels turned as the tag says."""
    path = shared_data / "images" / "exif-orientation" / f"exif-rotn-{orientation}.jpg"
    with Image.open(path) as stored:
        assert stored.getexif().get(0x0112) == orientation
        turn = {
            1: None,
            3: Image.Transpose.ROTATE_180,
            6: Image.Transpose.ROTATE_270,
            8: Image.Transpose.ROTATE_90,
        }[orientation]
        rgb = stored.convert("RGB")
        upright = rgb if turn is None else rgb.transpose(turn)
    bits, _ = pdqhash.compute(np.asarray(upright))
    manual = np.packbits(bits.astype(np.uint8)).tobytes().hex()
    ours = pdq_of(registry, path.read_bytes(), HashingConfig(fast_decode=False))
    assert ours.value == manual


# Dihedral variants ------------------------------------------------------------------------


def test_dihedral_variants_match_rotated_and_flipped_copies(registry):
    original = Image.open(FIXTURES / "aaa-orig.jpg")
    found = pdq_of(registry, fixture_bytes("aaa-orig.jpg"), HashingConfig(dihedral=True))
    variants = found.extra["variants"]
    assert set(variants) == {
        "rotate90",
        "rotate180",
        "rotate270",
        "flipx",
        "flipy",
        "flip_plus1",
        "flip_minus1",
    }
    turned = pdq_of(registry, jpeg(original.transpose(Image.Transpose.ROTATE_180)))
    assert distance(variants["rotate180"], turned.value) <= 10
    assert distance(found.value, turned.value) > 60


def test_dihedral_variants_against_reference_files(registry, shared_data):
    folder = shared_data / "images" / "dihedral"
    found = pdq_of(
        registry, (folder / "bridge-1-original.jpg").read_bytes(), HashingConfig(dihedral=True)
    )
    files = {
        "rotate90": "bridge-2-rotate-90",
        "rotate180": "bridge-3-rotate-180",
        "rotate270": "bridge-4-rotate-270",
        "flipx": "bridge-5-flipx",
        "flipy": "bridge-6-flipy",
        "flip_plus1": "bridge-7-flip-plus-1",
        "flip_minus1": "bridge-8-flip-minus-1",
    }
    for variant, name in files.items():
        copy = pdq_of(registry, (folder / f"{name}.jpg").read_bytes())
        assert distance(found.extra["variants"][variant], copy.value) <= 10, variant


# Letterboxing -------------------------------------------------------------------------------


def test_unletterbox_trims_bars(registry, expected):
    boxed = letterboxed("aaa-orig.jpg")
    trimmed = pdq_of(registry, boxed, HashingConfig(unletterbox=True))
    plain = pdq_of(registry, boxed)
    assert distance(trimmed.value, expected["aaa-orig.jpg"]["pdq"]) <= 4
    assert distance(plain.value, expected["aaa-orig.jpg"]["pdq"]) > 60
    untouched = pdq_of(registry, fixture_bytes("aaa-orig.jpg"), HashingConfig(unletterbox=True))
    assert untouched.value == expected["aaa-orig.jpg"]["pdq"]


def test_unletterbox_reference_sample(registry, shared_data, expected):
    sample = shared_data / "images" / "threatexchange-tests" / "letterboxed_sample-b.jpg"
    trimmed = pdq_of(registry, sample.read_bytes(), HashingConfig(unletterbox=True))
    assert distance(trimmed.value, expected["aaa-orig.jpg"]["pdq"]) <= 4


def test_a_uniform_image_is_not_trimmed_away(registry):
    blank = jpeg(Image.new("RGB", (300, 200), "white"))
    assert pdq_of(registry, blank, HashingConfig(unletterbox=True)).quality == 0


# Fast decode -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "scale"),
    [
        ((3000, 2000), 4),
        ((2000, 3000), 4),
        ((4032, 3024), 4),
        ((8064, 6048), 8),
        ((1920, 1080), 1),
        ((1024, 768), 1),
        ((2048, 1536), 2),
        ((40, 30), 1),
    ],
)
def test_reduction_keeps_pdq_windows(size, scale):
    assert pdq_scale(*size) == scale


def test_phase_offsets():
    assert phase_offset(3000, 4) == pytest.approx(-0.75)
    assert phase_offset(3000, 1) == 0
    assert phase_offset(2048, 2) == pytest.approx(-0.75)


def test_fast_decode_of_a_large_photo_stays_close(registry):
    photo = Image.open(FIXTURES / "aaa-orig.jpg").resize((3000, 2000), Image.Resampling.LANCZOS)
    data = jpeg(photo)
    full = pdq_of(registry, data, HashingConfig(fast_decode=False))
    fast = pdq_of(registry, data)
    assert still_pixels(Media(data), HashingConfig()).shape == (500, 750, 3)
    assert distance(fast.value, full.value) <= 8
    assert fast.quality == full.quality == 100


def test_pixels_are_decoded_once_per_upload():
    media = Media(fixture_bytes("wee.jpg"))
    assert still_pixels(media, HashingConfig()) is still_pixels(media, HashingConfig())


# Video ---------------------------------------------------------------------------------------


def reference_frames(path):
    rows = (line.strip().split(",") for line in path.read_text().splitlines() if line.strip())
    return {int(n): (int(q), h, float(t)) for n, q, h, t in rows}


@pytest.mark.parametrize("seconds_per_hash", [1.0, 0.5])
def test_video_frames_agree_with_the_vpdq_reference(registry, shared_data, seconds_per_hash):
    videos = sorted((shared_data / "video").glob("*.mp4"))
    assert len(videos) == 5
    config = HashingConfig(video_seconds_per_hash=seconds_per_hash)
    for video in videos:
        reference = reference_frames(video.with_suffix(".vpdq.txt"))
        signal = by_type(registry.hash_bytes(video.read_bytes(), config, video))["vpdq"]
        frames = signal.extra["frames"]
        assert [f["frame_number"] % int(30 * seconds_per_hash) for f in frames] == [0] * len(frames)
        compared = 0
        for frame in frames:
            quality, value, timestamp = reference[frame["frame_number"]]
            assert frame["timestamp"] == pytest.approx(timestamp, abs=0.001)
            if frame["quality"] >= 50 and quality >= 50:
                assert distance(frame["pdq"], value) < 31, (video.name, frame["frame_number"])
                compared += 1
        assert compared >= 1


def test_every_frame_mode(registry, shared_data):
    video = shared_data / "video" / "test-padded-dimensions.mp4"
    reference = reference_frames(video.with_suffix(".vpdq.txt"))
    config = HashingConfig(video_seconds_per_hash=0)
    frames = by_type(registry.hash_bytes(video.read_bytes(), config))["vpdq"].extra["frames"]
    assert [f["frame_number"] for f in frames] == sorted(reference)
    assert max(distance(f["pdq"], reference[f["frame_number"]][1]) for f in frames) < 31


def test_video_signal_shapes(registry, tmp_path):
    data = write_video(tmp_path / "clip.mp4", fps=30, count=75).read_bytes()
    signals = by_type(registry.hash_bytes(data, HashingConfig()))
    assert list(signals) == ["vpdq", "md5", "sha256"]
    vpdq = signals["vpdq"]
    assert [f["frame_number"] for f in vpdq.extra["frames"]] == [0, 30, 60]
    assert [f["timestamp"] for f in vpdq.extra["frames"]] == [0.0, 1.0, 2.0]
    assert registry.parse("vpdq", vpdq.value).value == vpdq.value
    assert vpdq.to_dict()["frames"][0].keys() == {"frame_number", "quality", "pdq", "timestamp"}


def test_animated_gif_is_hashed_as_video_frames(registry):
    signals = by_type(registry.hash_bytes(animated_gif(frame_ms=500, count=5), HashingConfig()))
    assert list(signals) == ["pdq", "vpdq", "md5", "sha256"]
    frames = signals["vpdq"].extra["frames"]
    assert [(f["frame_number"], f["timestamp"]) for f in frames] == [(0, 0.0), (2, 1.0), (4, 2.0)]
    assert frames[0]["pdq"] == signals["pdq"].value


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ('["' + "a" * 64 + ',100,0.000"]', True),
        ('["' + "A" * 64 + ',90,1.5", "' + "b" * 64 + ',0,2"]', True),
        ("[]", False),
        ('["' + "a" * 63 + ',100,0.000"]', False),
        ('["' + "a" * 64 + ',101,0.000"]', False),
        ('["' + "a" * 64 + ',100"]', False),
        ("not json", False),
        ('{"a": 1}', False),
    ],
)
def test_vpdq_compact_values(registry, value, valid):
    if valid:
        normalised = registry.parse("vpdq", value).value
        assert registry.parse("vpdq", normalised).value == normalised
    else:
        with pytest.raises(InvalidSignal):
            registry.parse("vpdq", value)


# Optional perceptual hashes ---------------------------------------------------------------------


def test_phash_and_dhash_are_off_by_default(registry):
    assert set(by_type(registry.hash_bytes(fixture_bytes("wee.jpg"), HashingConfig()))) == {
        "pdq",
        "md5",
        "sha256",
    }


def test_phash_and_dhash_when_enabled():
    pytest.importorskip("imagehash", reason="the perceptual extra is not installed")
    registry = default_registry(extra_hashers=["phash", "dhash"])
    orig = by_type(registry.hash_bytes(fixture_bytes("aaa-orig.jpg"), HashingConfig()))
    blurred = by_type(registry.hash_bytes(fixture_bytes("blur-a-lot.jpg"), HashingConfig()))
    other = by_type(registry.hash_bytes(fixture_bytes("wee.jpg"), HashingConfig()))
    for kind in ("phash", "dhash"):
        assert len(orig[kind].value) == 16
        signal_type = registry.signal_type(kind)
        near = signal_type.distance(orig[kind].value, blurred[kind].value)
        far = signal_type.distance(orig[kind].value, other[kind].value)
        assert near <= signal_type.default_threshold < far


def test_unknown_extra_hasher_is_refused():
    pytest.importorskip("imagehash", reason="the perceptual extra is not installed")
    with pytest.raises(ValueError, match="unknown extra hasher"):
        default_registry(extra_hashers=["ahash9"])


# Bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"just some text, not an image\n" * 10, "unsupported_media"),
        (b"%PDF-1.4\n" + b"0" * 200, "unsupported_media"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt_media"),
        (fixture_bytes("aaa-orig.jpg")[:5000], "corrupt_media"),
        (fixture_bytes("aaa-orig.jpg")[:300], "corrupt_media"),
        (b"\x00\x00\x00\x20ftypisom" + b"\x00" * 2000, "corrupt_media"),
    ],
    ids=[
        "empty",
        "text",
        "pdf",
        "png-garbage",
        "truncated-jpeg",
        "jpeg-header-only",
        "mp4-no-frames",
    ],
)
def test_bad_media_gets_its_own_error(registry, data, code):
    with pytest.raises(MediaError) as caught:
        registry.hash_bytes(data, HashingConfig())
    assert caught.value.code == code
    assert caught.value.message


def test_truncated_video(registry, tmp_path):
    data = write_video(tmp_path / "clip.mp4").read_bytes()
    with pytest.raises(MediaError) as caught:
        registry.hash_bytes(data[: len(data) // 2], HashingConfig())
    assert caught.value.code == "corrupt_media"


def test_wrong_extension_is_irrelevant(registry, tmp_path):
    png = io.BytesIO()
    Image.open(FIXTURES / "wee.jpg").save(png, format="PNG")
    misnamed = tmp_path / "photo.mp4"
    misnamed.write_bytes(png.getvalue())
    assert pdq_of(registry, misnamed.read_bytes()).quality == 100


def test_huge_png_is_refused_before_decoding(registry):
    data = huge_png()
    started = time.perf_counter()
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(data, HashingConfig())
    assert caught.value.code == "image_too_large"
    assert "400000000 pixels" in caught.value.message
    assert time.perf_counter() - started < 5  # refused from the header, not after decoding


def test_ten_hour_video_header_is_refused_before_decoding(registry, tmp_path):
    data = ten_hour_video(tmp_path / "long.mp4")
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(data, HashingConfig())
    assert caught.value.code == "video_too_long"
    assert "claims 36864 s" in caught.value.message


def test_frame_limit(registry, tmp_path):
    data = write_video(tmp_path / "clip.mp4", count=40).read_bytes()
    tight = HashingConfig(limits=MediaLimits(max_video_frames=10), video_seconds_per_hash=0)
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(data, tight)
    assert caught.value.code == "video_too_long"


def test_frame_pixel_limit(registry, tmp_path):
    data = write_video(tmp_path / "clip.mp4", count=5, size=(320, 240)).read_bytes()
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(data, HashingConfig(limits=MediaLimits(max_pixels=320 * 239)))
    assert caught.value.code == "image_too_large"


def test_byte_limit(registry):
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(
            fixture_bytes("aaa-orig.jpg"), HashingConfig(limits=MediaLimits(max_bytes=1000))
        )
    assert caught.value.code == "file_too_large"


def test_pixel_limit_checked_before_decoding(registry):
    small = HashingConfig(limits=MediaLimits(max_pixels=100 * 100))
    image = io.BytesIO()
    Image.new("L", (101, 100), 128).save(image, format="PNG")
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(image.getvalue(), small)
    assert "101x100 pixels" in caught.value.message


def test_corrupt_pixel_data_in_the_middle(registry):
    data = bytearray(fixture_bytes("aaa-orig.jpg"))
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)
    try:
        signals = registry.hash_bytes(bytes(data), HashingConfig())
    except MediaError as exc:
        assert exc.code == "corrupt_media"
    else:
        assert {s.type for s in signals} == {"pdq", "md5", "sha256"}


# Signal types and the registry -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "normalised"),
    [
        (
            "pdq",
            "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22",
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        ),
        ("md5", "  d35c785545392755e7e4164457657269 ", "d35c785545392755e7e4164457657269"),
    ],
)
def test_parse_normalises(registry, kind, value, normalised):
    assert registry.parse(kind, value).value == normalised


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("pdq", "abc"),
        ("pdq", "g" * 64),
        ("pdq", "f" * 63),
        ("md5", "f" * 64),
        ("sha256", ""),
        ("sha256", None),
        ("md5", 12345),
        ("phash", "f" * 15),
    ],
)
def test_parse_rejects_malformed_values(registry, kind, value):
    with pytest.raises(InvalidSignal):
        registry.parse(kind, value)


def test_parse_rejects_unknown_types(registry):
    with pytest.raises(UnknownSignalType) as caught:
        registry.parse("photodna", "00")
    assert "pdq" in caught.value.message


class ByteLengthHasher(Hasher):
    """A plugin-style hasher: the signal type and hasher come from outside the core."""

    signal_type = HexSignalType("length16", 4)
    media_kinds = frozenset({"image"})

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        return Signal(type="length16", value=f"{len(media.data) & 0xFFFF:04x}")


def test_registry_accepts_plugin_hashers():
    registry = default_registry(load_plugins=False)
    registry.add_hasher(ByteLengthHasher())
    found = by_type(registry.hash_bytes(fixture_bytes("wee.jpg"), HashingConfig()))
    assert found["length16"].value == f"{len(fixture_bytes('wee.jpg')) & 0xFFFF:04x}"


def test_registry_refuses_a_second_type_with_the_same_name():
    with pytest.raises(ValueError):
        default_registry(load_plugins=False).add_signal_type(HexSignalType("pdq", 64))


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (5, 7),
        (64, 64),
        (100, 333),
        (513, 129),
        (768, 1024),
        (4, 100),
        (1080, 1080),
        (1300, 17),
        (2001, 3000),
    ],
)
def test_our_pdq_is_pdqhash_bit_for_bit(height, width):
    """The kernel computes PDQ as the reference does: hash, quality and every variant."""
    from hashers.pdq import pdq_dihedral_from_rgb, pdq_from_rgb

    rng = np.random.default_rng(height * width)
    smooth = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BICUBIC
    )
    pixels = np.asarray(smooth) // 2 + rng.integers(0, 128, (height, width, 3), dtype=np.uint8)
    bits, quality = pdqhash.compute(pixels)
    assert pdq_from_rgb(pixels) == (np.packbits(bits.astype(np.uint8)).tobytes().hex(), quality)
    variants, turned_quality = pdq_dihedral_from_rgb(pixels)
    theirs, _ = pdqhash.compute_dihedral(pixels)
    assert turned_quality == quality
    assert list(variants.values()) == [
        np.packbits(np.asarray(b, dtype=np.uint8)).tobytes().hex() for b in theirs
    ]
