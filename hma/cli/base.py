"""What every command shares: the `hma` group, the runtime a command works in
(settings, database, scanner, exchanges, the egress client, each built when first
used), and turning known errors into clean messages."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import click

from actioners.review import ReviewPolicy
from actioners.scan import Scanner
from banks.egress import Egress
from banks.taxonomy import Taxonomy
from core.errors import (
    CheckpointsUnreadable,
    CodedError,
    SchemaOutdated,
    SettingsError,
)
from hma.assembly import build_egress, build_scanner, load_taxonomy, review_policy
from hma.db import Database, ensure_schema, open_database
from hma.exchanges import Exchanges
from hma.private_files import private_folder
from hma.secrets import SecretBox, secret_box
from hma.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


#: Who the audit log says acted, for changes made with the CLI.
CLI_ACTOR = "cli"


class Runtime:
    """Settings, database and scanner for one command, created on first use."""

    def __init__(self, data_dir: str | None) -> None:
        self.data_dir = data_dir

    @cached_property
    def settings(self) -> Settings:
        return load_settings(data_dir=self.data_dir)

    @cached_property
    def database(self) -> Database:
        private_folder(self.settings.data_dir)
        database = open_database(self.settings)
        ensure_schema(database.engine)
        return database

    @cached_property
    def scanner(self) -> Scanner:
        return build_scanner(self.settings, taxonomy=self.taxonomy)

    @cached_property
    def taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.settings)

    @cached_property
    def review(self) -> ReviewPolicy:
        return review_policy(self.settings, self.taxonomy)

    @cached_property
    def exchanges(self) -> Exchanges:
        return Exchanges.build(
            self.settings,
            self.database,
            self.scanner.registry,
            self.taxonomy,
            self.box,
            self.egress,
        )

    @cached_property
    def box(self) -> SecretBox:
        """Seals and unseals credentials with the deployment's secret key."""
        return secret_box(self.settings)

    @cached_property
    def egress(self) -> Egress:
        return build_egress(self.settings)


def with_runtime(command: F) -> F:
    """Add `--data-dir` and pass a Runtime; turn known errors into clean messages."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        default=None,
        help="State directory (default: $HMA_DATA_DIR or ./hma-data).",
    )
    @click.pass_context
    def wrapped(ctx: click.Context, /, data_dir: str | None, **kwargs: Any) -> Any:
        try:
            return ctx.invoke(command, Runtime(data_dir), **kwargs)
        except (CodedError, SettingsError, SchemaOutdated, CheckpointsUnreadable) as exc:
            raise click.ClickException(str(exc)) from exc

    wrapped.__name__ = command.__name__
    wrapped.__doc__ = command.__doc__
    return wrapped  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="hma")
def main() -> None:
    """Hash uploads, match them against hash banks, and review every match."""
    # What the service writes holds abuse signals or comes from them (the database,
    # index snapshots, locks, checkpoints, exports): readable by its own user only,
    # whatever the mode of a data dir that existed before.
    os.umask(0o077)


def config_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """--config KEY=VALUE options as a mapping."""
    config = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--config")
        config[key.strip()] = value
    return config


def secret_given(value: str | None) -> str | None:
    """--credentials: the secret itself, or '-' to read it from stdin (kept out of history)."""
    if value == "-":
        return sys.stdin.readline().strip()
    return value
