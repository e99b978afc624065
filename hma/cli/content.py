"""Hashing, matching and scanning files and posts from the command line.

Commands that take `--json` print JSON and nothing else on stdout (one object
per input, as JSON lines); progress and logs go to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import click

from core.errors import (
    HashingError,
)
from hashers import KEYWORD, VPDQ, Signal
from hashers.posts import AccountRef, Post, post_signals
from hashers.vpdq import reference_lines
from hma import batch
from hma.cli.base import F, Runtime, main, with_runtime


def _describe_signal(signal: Signal) -> str:
    shown = signal.value if len(signal.value) <= 80 else f"{signal.value[:77]}..."
    text = f"{signal.type} {shown}"
    if signal.quality is not None:
        text += f" (quality {signal.quality}{'' if signal.usable else ', unusable'})"
    elif not signal.usable:
        text += " (unusable)"
    if "frames" in signal.extra:
        text += f" [{len(signal.extra['frames'])} frames]"
    return text


def hash_outcomes(runtime: Runtime, paths: tuple[str, ...]) -> Iterator[batch.HashOutcome]:
    """Hash every file named or under a directory named, with progress on stderr."""
    files = list(batch.expand(paths))
    workers = min(batch.worker_count(runtime.settings), len(files))
    outcomes = batch.hash_files(files, runtime.settings, runtime.scanner.registry, workers)
    # Results on a terminal are their own progress; a bar is for redirected output.
    if not (sys.stderr.isatty() and not sys.stdout.isatty()):
        yield from outcomes
        return
    with click.progressbar(outcomes, length=len(files), label="hashing", file=sys.stderr) as bar:
        yield from bar


def _run_over_files(
    runtime: Runtime,
    paths: tuple[str, ...],
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]] | None,
) -> None:
    """Hash each file, apply `act` to its signals, print a line each; exit 1 if any failed."""
    failed = 0
    for outcome in hash_outcomes(runtime, paths):
        if outcome.signals is None:
            failed += 1
            record: dict[str, Any] = {
                "path": outcome.path,
                "error": {"code": outcome.error_code, "message": outcome.error_message},
            }
        else:
            record = {"path": outcome.path, "signals": [s.to_dict() for s in outcome.signals]}
            if act is not None:
                record |= act(outcome.path, outcome.signals)
        if as_json:
            click.echo(json.dumps(record))
        else:
            _print_human(record, outcome.signals or [])
    if failed:
        click.echo(f"{failed} file(s) could not be hashed", err=True)
        sys.exit(1)


def _print_human(record: dict[str, Any], signals: list[Signal]) -> None:
    if "error" in record:
        click.echo(
            f"{record['path']}: error {record['error']['code']}: {record['error']['message']}"
        )
        return
    click.echo(f"{record['path']}:")
    for signal in signals:
        click.echo(f"  {_describe_signal(signal)}")
    for match in record.get("matches", []):
        variant = f" ({match['variant']})" if "variant" in match else ""
        click.echo(
            f"  match: bank {match['bank']} content {match['content_id']}"
            f" {match['signal_type']} distance {match['distance']}{variant}"
        )
    if record.get("case_id") is not None:
        click.echo(f"  case {record['case_id']}")


@main.command("hash")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@click.option(
    "--vpdq",
    "as_vpdq",
    is_flag=True,
    help="For videos, print the vPDQ reference's lines (frame,quality,pdq,timestamp).",
)
@with_runtime
def hash_command(runtime: Runtime, paths: tuple[str, ...], as_json: bool, as_vpdq: bool) -> None:
    """Print the signals of local images and videos; directories are walked."""
    if as_vpdq:
        _print_vpdq(runtime, paths)
        return
    _run_over_files(runtime, paths, as_json, act=None)


def _print_vpdq(runtime: Runtime, paths: tuple[str, ...]) -> None:
    failed = 0
    for outcome in hash_outcomes(runtime, paths):
        video = next((s for s in outcome.signals or [] if s.type == VPDQ.name), None)
        if video is None:
            failed += 1
            reason = outcome.error_message or "not a video or animation"
            click.echo(f"{outcome.path}: {reason}", err=True)
            continue
        click.echo(f"# {outcome.path}")
        for line in reference_lines(video):
            click.echo(line)
    if failed:
        sys.exit(1)


def post_options(command: F) -> F:
    """Options naming a post's text, links and accounts, beside or instead of files;
    the command receives them as one `post`."""

    @functools.wraps(command)
    def with_post(
        *,
        text: str | None,
        text_file: Path | None,
        urls: tuple[str, ...],
        accounts: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        return command(post=_post(text, text_file, urls, accounts), **kwargs)

    options = [
        click.option("--text", help="A post's text: keywords, and links found in it."),
        click.option(
            "--text-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Read the post's text from a UTF-8 file.",
        ),
        click.option("--url", "urls", multiple=True, help="A link of the post (repeatable)."),
        click.option(
            "--account",
            "accounts",
            multiple=True,
            metavar="TYPE:VALUE",
            help="An account of the post, email:..., username:platform:name,"
            " phone:+..., payment:provider:handle (repeatable).",
        ),
    ]
    decorated: Any = with_post
    for option in reversed(options):
        decorated = option(decorated)
    return cast(F, decorated)


def _post(
    text: str | None, text_file: Path | None, urls: tuple[str, ...], accounts: tuple[str, ...]
) -> Post:
    if text is not None and text_file is not None:
        raise click.UsageError("give --text or --text-file, not both")
    if text_file is not None:
        try:
            text = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"cannot read {text_file}: {exc}") from None
    refs = []
    for account in accounts:
        kind, colon, value = account.partition(":")
        if not colon:
            raise click.UsageError(f"--account {account!r} is not TYPE:VALUE")
        refs.append(AccountRef(kind, value))
    return Post(text=text, urls=urls, accounts=refs)


def _run_post(
    runtime: Runtime,
    post: Post,
    label: str,
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]],
) -> None:
    """Look a post up as `act` does a file's signals; bad input exits 2 with its code."""
    try:
        signals = post_signals(post, runtime.settings.max_text_bytes)
    except HashingError as exc:
        click.echo(f"{label}: error {exc.code}: {exc.message}", err=True)
        sys.exit(2)
    record = {"path": label} | act(label, signals)
    if as_json:
        click.echo(json.dumps(record))
    else:
        # The post's text is not echoed back: only the other signals are listed.
        _print_human(record, [s for s in signals if s.type != KEYWORD.name])


def _files_and_post(
    runtime: Runtime,
    paths: tuple[str, ...],
    post: Post,
    label: str,
    as_json: bool,
    act: Callable[[str, list[Signal]], dict[str, Any]],
) -> None:
    if not paths and post.empty:
        raise click.UsageError("give files, or a post's --text, --url or --account")
    if not post.empty:
        _run_post(runtime, post, label, as_json, act)
    if paths:
        _run_over_files(runtime, paths, as_json, act=act)


@main.command()
@click.argument("paths", nargs=-1)
@post_options
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def match(runtime: Runtime, paths: tuple[str, ...], post: Post, as_json: bool) -> None:
    """Hash files, or take a post's text, links and accounts, and look them up in
    every enabled bank, opening no case."""

    def look_up(_path: str, signals: list[Signal]) -> dict[str, Any]:
        with runtime.database.session() as session:
            found = runtime.scanner.match(session, signals)
        return {"matches": [m.to_dict() for m in found.matches]}

    _files_and_post(runtime, paths, post, "post", as_json, look_up)


@main.command()
@click.argument("paths", nargs=-1)
@post_options
@click.option("--content-ref", help="The post's reference in the platform (required with a post).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines on stdout.")
@with_runtime
def scan(
    runtime: Runtime, paths: tuple[str, ...], post: Post, content_ref: str | None, as_json: bool
) -> None:
    """Hash, match and open review cases; a file's content_ref is its absolute path,
    a post's is --content-ref."""
    if not post.empty and not content_ref:
        raise click.UsageError("a post needs --content-ref")

    def scan_one(path: str, signals: list[Signal]) -> dict[str, Any]:
        is_post = path == content_ref and not post.empty
        with runtime.database.session() as session:
            result = runtime.scanner.scan(
                session,
                signals,
                path if is_post else str(Path(path).resolve()),
                media=None if is_post else Path(path).read_bytes(),
                text=post.text if is_post else None,
            )
        return {
            "matches": [m.to_dict() for m in result.matches],
            "case_id": result.case_id,
        }

    _files_and_post(runtime, paths, post, content_ref or "post", as_json, scan_one)
