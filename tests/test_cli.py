"""The `hma` command line, run in-process with click's runner on a real database."""

from __future__ import annotations

import json

from tests.conftest import FIXTURES


def image(name: str) -> str:
    return str(FIXTURES / name)


def test_hash_json_lines(hma, expected, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    result = hma("hash", "--json", image("aaa-orig.jpg"), str(empty), str(tmp_path / "missing"))
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    assert lines[0]["path"] == image("aaa-orig.jpg")
    assert {s["type"]: s["value"] for s in lines[0]["signals"]}["pdq"] == (
        expected["aaa-orig.jpg"]["pdq"]
    )
    assert lines[1]["error"]["code"] == "empty_file"
    assert lines[2]["error"]["code"] == "unreadable_file"


def test_hash_human_output(hma):
    result = hma("hash", image("small.jpg"))
    assert result.exit_code == 0
    assert "quality 0, unusable" in result.stdout


def test_bank_add_match_scan(hma):
    assert hma("bank", "create", "known").exit_code == 0
    assert hma("bank", "create", "known").exit_code == 1
    added = hma("bank", "add", "known", image("aaa-orig.jpg"), "--tag", "csam", "--tag", "a1")
    assert added.exit_code == 0
    listed = hma("bank", "list", "--json")
    assert json.loads(listed.stdout) == {
        "name": "known",
        "enabled": True,
        "content_count": 1,
        "description": "",
    }

    matched = hma("match", "--json", image("blur-a-lot.jpg"), image("wee.jpg"))
    first, second = (json.loads(line) for line in matched.stdout.splitlines())
    assert [(m["bank"], m["distance"], m["tags"]) for m in first["matches"]] == [
        ("known", 4, ["csam", "a1"])
    ]
    assert second["matches"] == []

    scanned = hma("scan", "--json", image("blur-a-lot.jpg"))
    case_id = json.loads(scanned.stdout)["case_id"]
    assert isinstance(case_id, int)
    rescanned = hma("scan", "--json", image("blur-a-lot.jpg"))
    assert json.loads(rescanned.stdout)["case_id"] == case_id


def test_bank_import_export(hma, tmp_path):
    hma("bank", "create", "feed")
    source = tmp_path / "feed.csv"
    source.write_text(
        "signal_type,value,tags\n"
        "md5,d35c785545392755e7e4164457657269,csam;b1\n"
        "md5,bad,\n"
        "pdq,f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,\n"
    )
    imported = hma("bank", "import", "feed", str(source))
    assert imported.exit_code == 0
    assert "line 3:" in imported.stderr
    assert "imported 2" in imported.stderr
    exported = hma("bank", "export", "feed")
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["signal_type"], r["tags"]) for r in records] == [
        ("md5", ["csam", "b1"]),
        ("pdq", []),
    ]
    as_csv = hma("bank", "export", "feed", "--format", "csv")
    assert as_csv.stdout.splitlines()[0] == "signal_type,value,tags,metadata"
    assert hma("bank", "export", "missing").exit_code == 1


def test_token_create_prints_only_the_token(hma):
    result = hma("token", "create", "--name", "platform", "--role", "ingest")
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("hma_")
    assert len(result.stdout.strip().splitlines()) == 1
    assert hma("token", "create", "--name", "platform", "--role", "ingest").exit_code == 1
    assert hma("token", "create", "--name", "x", "--role", "god").exit_code == 2
    listed = hma("token", "list")
    assert "platform\tingest\tactive" in listed.stdout
    assert result.stdout.strip() not in listed.stdout
    assert hma("token", "revoke", "platform").exit_code == 0
    assert "platform\tingest\trevoked" in hma("token", "list").stdout


def test_db_upgrade(hma):
    assert hma("db", "upgrade").exit_code == 0
    assert hma("db", "upgrade").exit_code == 0


def test_bad_config_is_a_clear_error(hma, tmp_path, monkeypatch):
    config = tmp_path / "hma.toml"
    config.write_text("pdq_match_treshold = 20\n")
    monkeypatch.setenv("HMA_CONFIG", str(config))
    result = hma("bank", "list")
    assert result.exit_code == 1
    assert "unknown setting 'pdq_match_treshold'" in result.stderr


def test_hash_walks_directories_on_all_cores_and_keeps_going(hma, tmp_path, monkeypatch, expected):
    from tests.media_factory import write_video

    tree = tmp_path / "uploads"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "photo.jpg").write_bytes((FIXTURES / "aaa-orig.jpg").read_bytes())
    (tree / "a" / "b" / "wee.png.jpg").write_bytes((FIXTURES / "wee.jpg").read_bytes())
    (tree / "a" / "notes.txt").write_text("not media\n")
    (tree / "empty.jpg").write_bytes(b"")
    write_video(tree / "clip.mp4", count=45)
    monkeypatch.setenv("HMA_HASH_WORKERS", "2")
    result = hma("hash", "--json", str(tree))
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    names = [line["path"].removeprefix(str(tree) + "/") for line in lines]
    assert names == ["clip.mp4", "empty.jpg", "a/notes.txt", "a/photo.jpg", "a/b/wee.png.jpg"]
    by_name = dict(zip(names, lines, strict=True))
    assert by_name["empty.jpg"]["error"]["code"] == "empty_file"
    assert by_name["a/notes.txt"]["error"]["code"] == "unsupported_media"
    assert by_name["a/photo.jpg"]["signals"][0]["value"] == expected["aaa-orig.jpg"]["pdq"]
    video = by_name["clip.mp4"]["signals"][0]
    assert video["type"] == "vpdq"
    assert [f["frame_number"] for f in video["frames"]] == [0, 30]
    assert "2 file(s) could not be hashed" in result.stderr


def test_hash_vpdq_lines(hma, tmp_path):
    from tests.media_factory import write_video

    clip = write_video(tmp_path / "clip.mp4", count=61)
    result = hma("hash", "--vpdq", str(clip))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"# {clip}"
    frame, quality, pdq, timestamp = lines[2].split(",")
    assert (frame, timestamp) == ("30", "1.000")
    assert len(pdq) == 64 and 0 <= int(quality) <= 100
    not_video = hma("hash", "--vpdq", image("wee.jpg"))
    assert not_video.exit_code == 1
    assert "not a video" in not_video.stderr


def test_match_and_scan_a_posts_text_links_and_accounts(hma, tmp_path):
    assert hma("bank", "create", "leads").exit_code == 0
    entries = tmp_path / "leads.txt"
    entries.write_text(
        "url https://evil.example/\nkeyword secret code\naccount email:seller@evil.example\n"
    )
    assert hma("bank", "import", "leads", str(entries)).exit_code == 0
    post = [
        "--text",
        "DM me the SECRET c0de, files at hxxp://files[.]evil[.]example/a",
        "--account",
        "email:Seller@Evil.example",
    ]
    matched = hma("match", "--json", *post)
    assert matched.exit_code == 0, matched.output
    [record] = [json.loads(line) for line in matched.stdout.splitlines()]
    assert sorted(m["signal_type"] for m in record["matches"]) == ["account", "keyword", "url"]

    human = hma("match", *post)
    assert "match: bank leads" in human.stdout and "SECRET" not in human.stdout

    assert hma("scan", *post).exit_code == 2  # a post needs its reference
    scanned = hma("scan", "--json", "--content-ref", "post-9", *post)
    assert json.loads(scanned.stdout)["case_id"] is not None

    refused = hma("match", "--account", "email:no-domain")
    assert refused.exit_code == 2 and "invalid_email" in refused.output
    assert hma("match", "--account", "no-type").exit_code == 2
    assert hma("match").exit_code == 2
