"""Decoding only the packets the hashed frames need: the plan, and the frames it gives."""

from __future__ import annotations

import numpy as np
import pytest

import hashers.video
from hashers import HashingConfig, default_registry
from hashers.frame_plan import FramePlan, PacketInfo, plan_decoding
from hashers.media import Media
from hashers.video import frames
from tests.media_factory import encode_video


def packets(*frames: tuple[int, str]) -> list[PacketInfo]:
    """Packets in decode order from (display number, kind): 'I' keyframe, else not."""
    return [PacketInfo(pts=number * 512, keyframe=kind == "I") for number, kind in frames]


def test_a_group_after_its_last_hashed_frame_is_not_sent():
    # Display order 0..5 then 6..11, decode order with B-frames after the P they lean on.
    stream = packets(
        (0, "I"), (3, "P"), (1, "B"), (2, "B"), (5, "P"), (4, "B"),
        (6, "I"), (9, "P"), (7, "B"), (8, "B"), (11, "P"), (10, "B"),
    )  # fmt: skip
    plan = plan_decoding(stream, step=3)
    assert plan is not None
    assert plan.hashed_numbers == {0, 3, 6, 9}
    assert plan.hashed == [True, True] + [False] * 4 + [True, True] + [False] * 4
    # The last hashed frame of each group is decoded second: the rest of the group is skipped.
    assert plan.send == [True, True] + [False] * 4 + [True, True] + [False] * 4
    assert [plan.numbers[p.pts] for p in stream] == [0, 3, 1, 2, 5, 4, 6, 9, 7, 8, 11, 10]


def test_a_hashed_leading_picture_keeps_the_group_before_it_whole():
    # The second group's frame 6 is shown before its keyframe (7) and may refer back.
    stream = packets((0, "I"), (2, "P"), (1, "B"), (4, "P"), (3, "B"), (7, "I"), (5, "B"), (6, "B"))
    plan = plan_decoding(stream, step=6)
    assert plan is not None
    assert plan.hashed_numbers == {0, 6}
    assert plan.hashed == [True] + [False] * 6 + [True]
    # Without the leading picture, only the keyframe of the first group would be sent.
    assert plan.send == [True] * 8


def test_frames_dropped_by_the_container_are_not_numbered():
    stream = [PacketInfo(0, True, discard=True), *packets((1, "P"), (2, "P"), (3, "P"))]
    plan = plan_decoding(stream, step=2)
    assert plan is not None
    assert plan.numbers == {512: 0, 1024: 1, 1536: 2}
    assert plan.hashed == [False, True, False, True]
    assert plan.send == [True] * 4  # the dropped frame may still be a reference


@pytest.mark.parametrize(
    "stream",
    [
        [PacketInfo(None, True), PacketInfo(512, False)],
        [PacketInfo(0, True), PacketInfo(0, False)],
    ],
    ids=["missing-timestamp", "repeated-timestamp"],
)
def test_no_plan_where_timestamps_cannot_number_frames(stream):
    assert plan_decoding(stream, step=1) is None


def decoded(media: Media, config: HashingConfig, every_packet: bool):
    return [(f.number, f.timestamp, f.pixels) for f in frames(media, config, every_packet)]


@pytest.mark.parametrize(
    ("codec", "options"),
    [
        ("libx264", {"g": "12", "bf": "3"}),
        ("libx264", {"g": "45", "bf": "2", "x264-params": "open-gop=1:b-pyramid=normal"}),
        ("libx265", {"x265-params": "keyint=20:bframes=4:open-gop=1:log-level=none"}),
        ("libvpx-vp9", {"g": "15"}),
    ],
    ids=["h264-short-groups", "h264-open-groups", "hevc-open-groups", "vp9"],
)
@pytest.mark.parametrize("seconds_per_hash", [1.0, 0.3, 0])
def test_planned_frames_are_those_of_decoding_every_packet(
    tmp_path, codec, options, seconds_per_hash
):
    video = encode_video(tmp_path / "clip.mkv", codec, options, count=100)
    media = Media(video.read_bytes())
    config = HashingConfig(video_seconds_per_hash=seconds_per_hash)
    planned, every = decoded(media, config, False), decoded(media, config, True)
    assert [(n, t) for n, t, _ in planned] == [(n, t) for n, t, _ in every]
    assert len(planned) == (
        100 if seconds_per_hash == 0 else len(range(0, 100, int(30 * seconds_per_hash)))
    )
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(planned, every, strict=True))


def test_the_reference_clips_decode_by_plan_to_the_same_pixels(shared_data):
    config = HashingConfig()
    for video in sorted((shared_data / "video").glob("*.mp4")):
        media = Media(video.read_bytes())
        planned, every = decoded(media, config, False), decoded(media, config, True)
        assert [(n, t) for n, t, _ in planned] == [(n, t) for n, t, _ in every], video.name
        assert all(
            np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(planned, every, strict=True)
        )


def test_a_plan_the_decoder_contradicts_falls_back_to_every_packet(tmp_path, monkeypatch):
    video = encode_video(tmp_path / "clip.mp4", options={"g": "12", "bf": "3"}, count=90)
    data, registry, config = video.read_bytes(), default_registry(), HashingConfig()
    expected = next(s for s in registry.hash_bytes(data, config) if s.type == "vpdq")

    def numbered_wrong(infos, step):
        plan = plan_decoding(infos, step)
        assert plan is not None
        return FramePlan(
            plan.send,
            plan.hashed,
            {pts + 1: n for pts, n in plan.numbers.items()},
            plan.hashed_numbers,
        )

    monkeypatch.setattr(hashers.video, "plan_decoding", numbered_wrong)
    found = next(s for s in registry.hash_bytes(data, config) if s.type == "vpdq")
    assert found.value == expected.value
    assert [f["frame_number"] for f in found.extra["frames"]] == [0, 30, 60]


def test_display_rotation_is_applied_as_phones_record_it(tmp_path):
    upright = encode_video(tmp_path / "upright.mp4", count=30, size=(160, 120))
    turned = encode_video(tmp_path / "turned.mp4", count=30, size=(160, 120), rotation=90)
    (first_upright,) = frames(Media(upright.read_bytes()), HashingConfig())
    (first_turned,) = frames(Media(turned.read_bytes()), HashingConfig())
    assert first_upright.pixels.shape == (120, 160, 3)
    assert first_turned.pixels.shape == (160, 120, 3)
    assert np.array_equal(first_turned.pixels, np.rot90(first_upright.pixels))
