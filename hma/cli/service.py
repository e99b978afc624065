"""Running the service, and listing what it is built from (plugins included)."""

from __future__ import annotations

import json
import sys

import click

from actioners.reporters import reporter_failures, reporter_origins
from banks.exchanges import adapter_failures, adapter_origins
from hashers import default_registry
from hma.cli.base import Runtime, main, with_runtime


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Request worker processes (default: the serve_workers setting, else one per core).",
)
@click.option(
    "--role",
    type=click.Choice(["all", "api", "jobs"]),
    default="all",
    show_default=True,
    help="api: requests only; jobs: background jobs only (one active across hosts); all: both.",
)
@with_runtime
def serve(runtime: Runtime, host: str, port: int, workers: int | None, role: str) -> None:
    """Run the API and reviewer console, the background jobs, or both."""
    from hma.server import serve as run_server

    run_server(runtime.settings, host, port, workers, role)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@with_runtime
def plugins(runtime: Runtime, as_json: bool) -> None:
    """List the signal types, hashers, exchange adapters and reporter types, and where each
    came from.

    Plugins that failed to load are listed too, with the error; they are left out
    of the service, which runs without them. Exits 1 when one failed.
    """
    registry = default_registry(extra_hashers=runtime.settings.extra_hasher_names)
    parts = [
        {"kind": kind, "name": name, "origin": origin}
        for (kind, name), origin in registry.origins.items()
    ]
    parts += [
        {"kind": "exchange", "name": name, "origin": origin}
        for name, origin in sorted(adapter_origins().items())
    ]
    parts += [
        {"kind": "reporter", "name": name, "origin": origin}
        for name, origin in sorted(reporter_origins().items())
    ]
    failed = [vars(f) for f in [*registry.failures, *adapter_failures(), *reporter_failures()]]
    if as_json:
        click.echo(json.dumps({"plugins": parts, "failed": failed}))
    else:
        for part in parts:
            click.echo(f"{part['kind']:<12} {part['name']:<28} {part['origin']}")
        for failure in failed:
            click.echo(f"FAILED {failure['group']} {failure['name']}: {failure['error']}", err=True)
    if failed:
        sys.exit(1)
