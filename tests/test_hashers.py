"""Hashing fixture images: values agree with the reference data; bad media gets clear errors."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from hashers import (
    PDQ,
    HashingConfig,
    HexSignalType,
    InvalidSignal,
    MediaError,
    MediaLimits,
    MediaTooLarge,
    Registry,
    Signal,
    UnknownSignalType,
    default_registry,
)
from hashers.base import Hasher
from hashers.media import Media
from tests.conftest import fixture_bytes


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def signals_by_type(signals: list[Signal]) -> dict[str, Signal]:
    return {s.type: s for s in signals}


@pytest.mark.parametrize("name", ["aaa-orig.jpg", "blur-a-lot.jpg", "wee.jpg", "small.jpg"])
def test_signals_match_reference_values(registry, expected, name):
    found = signals_by_type(registry.hash_bytes(fixture_bytes(name), HashingConfig()))
    want = expected[name]
    assert found["pdq"].value == want["pdq"]
    assert found["pdq"].quality == int(want["quality"])
    assert found["md5"].value == want["md5"]
    assert found["sha256"].value == want["sha256"]


def test_low_quality_pdq_is_reported_and_marked_unusable(registry):
    found = signals_by_type(registry.hash_bytes(fixture_bytes("small.jpg"), HashingConfig()))
    pdq = found["pdq"]
    assert pdq.quality == 0
    assert pdq.usable is False
    assert len(pdq.value) == 64
    assert pdq.to_dict() == {"type": "pdq", "value": pdq.value, "quality": 0, "usable": False}


def test_quality_minimum_is_configurable(registry):
    strict = HashingConfig(pdq_quality_min=101)
    found = signals_by_type(registry.hash_bytes(fixture_bytes("aaa-orig.jpg"), strict))
    assert found["pdq"].quality == 100
    assert found["pdq"].usable is False
    assert found["md5"].usable is True


def png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"just some text, not an image\n" * 10, "unsupported_media"),
        (b"%PDF-1.4\n" + b"0" * 200, "unsupported_media"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt_media"),
        (fixture_bytes("aaa-orig.jpg")[:5000], "corrupt_media"),
        (fixture_bytes("aaa-orig.jpg")[:300], "corrupt_media"),
    ],
    ids=["empty", "text", "pdf", "png-garbage", "truncated-jpeg", "jpeg-header-only"],
)
def test_bad_media_gets_its_own_error(registry, data, code):
    with pytest.raises(MediaError) as caught:
        registry.hash_bytes(data, HashingConfig())
    assert caught.value.code == code
    assert caught.value.message


def test_corrupt_pixel_data_in_the_middle(registry):
    data = bytearray(fixture_bytes("aaa-orig.jpg"))
    data[len(data) // 2 :] = b"\x00" * (len(data) - len(data) // 2)
    # A JPEG with its entropy-coded data zeroed still decodes (to grey); what
    # matters is that it never raises anything but a MediaError.
    try:
        signals = registry.hash_bytes(bytes(data), HashingConfig())
    except MediaError as exc:
        assert exc.code == "corrupt_media"
    else:
        assert {s.type for s in signals} == {"pdq", "md5", "sha256"}


def test_byte_limit(registry):
    limits = HashingConfig(limits=MediaLimits(max_bytes=1000))
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(fixture_bytes("aaa-orig.jpg"), limits)
    assert caught.value.code == "file_too_large"


def test_pixel_limit_checked_before_decoding(registry):
    limits = HashingConfig(limits=MediaLimits(max_pixels=100 * 100))
    with pytest.raises(MediaTooLarge) as caught:
        registry.hash_bytes(png_bytes(101, 100), limits)
    assert caught.value.code == "image_too_large"
    assert registry.hash_bytes(png_bytes(100, 100), limits)


def test_media_decodes_once_for_all_hashers():
    media = Media(fixture_bytes("wee.jpg"))
    assert media.kind == "image"
    assert media.image() is media.image()
    assert media.image().mode == "RGB"


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        (
            "F8F8F0CEE0F4A84F06370A22038F63F0B36E2ED596621E1D33E6B39C4E9C9B22",
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        ),
        ("  d35c785545392755e7e4164457657269 ", "d35c785545392755e7e4164457657269"),
    ],
)
def test_parse_normalises(registry, value, normalised):
    kind = "pdq" if len(value.strip()) == 64 else "md5"
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
    ],
)
def test_parse_rejects_malformed_values(registry, kind, value):
    with pytest.raises(InvalidSignal):
        registry.parse(kind, value)


def test_parse_rejects_unknown_types(registry):
    with pytest.raises(UnknownSignalType) as caught:
        registry.parse("photodna", "00")
    assert "pdq" in caught.value.message


def test_pdq_distance():
    a = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    b = "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22"
    assert PDQ.distance(a, a) == 0
    assert PDQ.distance(a, b) == 4


class ByteLengthHasher(Hasher):
    """A plugin-style hasher: the signal type and hasher come from outside the core."""

    signal_type = HexSignalType("length16", 4)
    media_kinds = frozenset({"image"})

    def hash(self, media: Media, config: HashingConfig) -> Signal:
        return Signal(type="length16", value=f"{len(media.data) & 0xFFFF:04x}")


def test_registry_accepts_plugin_hashers():
    registry = default_registry(load_plugins=False)
    registry.add_hasher(ByteLengthHasher())
    found = signals_by_type(registry.hash_bytes(fixture_bytes("wee.jpg"), HashingConfig()))
    assert found["length16"].value == f"{len(fixture_bytes('wee.jpg')) & 0xFFFF:04x}"
    assert registry.parse("length16", "ABCD").value == "abcd"


def test_registry_refuses_a_second_type_with_the_same_name():
    registry = default_registry(load_plugins=False)
    with pytest.raises(ValueError):
        registry.add_signal_type(HexSignalType("pdq", 64))
