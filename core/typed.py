"""The base of typed settings: the deployment's (`hma.settings`) and each exchange
adapter's (`banks.exchanges.base.AdapterConfig`), parsed alike from TOML,
environment variables, command-line options, `--config KEY=VALUE` strings
and JSON.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator


class StrictModel(BaseModel):
    """Settings-like models: frozen, no unknown names, and no booleans taken as numbers
    (TOML's `limit = true` is a mistake, not 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: Any) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and annotation in (int, float):
            raise ValueError("expected a number, not true or false")
        return value


def describe(error: ValidationError) -> str:
    """Every problem of a validation error, each naming its setting."""
    return "; ".join(_problem(problem) for problem in error.errors())


def _problem(problem: Any) -> str:
    name = ".".join(str(part) for part in problem["loc"]) or "(all)"
    if problem["type"] == "extra_forbidden":
        return f"unknown setting {name!r}"
    if problem["type"] == "missing":
        return f"setting {name} is required"
    return f"setting {name}: " + str(problem["msg"]).removeprefix("Value error, ")
