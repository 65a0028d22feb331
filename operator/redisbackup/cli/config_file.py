"""Reading the operator's configuration file (the models and their rules are `redisbackup.api.config`).

    REDISBACKUP_CONFIG=/etc/redisbackup/config.yaml redisbackup operator

Without a file, or when the file names no storage locations, snapshots go to one embedded directory location:
REDISBACKUP_DATA_DIR, else /var/lib/redisbackup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from redisbackup.api.config import DEFAULT_DATA_DIR, OperatorConfig, embedded_locations
from redisbackup.cli.options import CONFIG_ENV

DATA_DIR_ENV = "REDISBACKUP_DATA_DIR"


class ConfigError(ValueError):
    """The configuration file is unreadable or breaks a rule; the message names the key and what to do."""


def load_config(path: Path | None) -> OperatorConfig:
    """The configuration file's settings (defaults when no file is given); ConfigError says what is wrong."""
    if path is None:
        return parse_config("")
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read the configuration file {path}: {error.strerror or error}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = CONFIG_ENV) -> OperatorConfig:
    """The configuration in YAML `text`; `source` (a path) is named in errors."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source} is not valid YAML: {error}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source} must be a mapping of settings (storage, limits, …), not {type(document).__name__}")
    try:
        config = OperatorConfig.model_validate(document)
    except ValidationError as error:
        problems = [_describe(detail) for detail in error.errors(include_url=False)]
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{source} has {len(problems)} problem(s):\n{listed}") from None
    return _with_data_dir(config, document)


def _with_data_dir(config: OperatorConfig, document: dict[str, Any]) -> OperatorConfig:
    """The embedded location in REDISBACKUP_DATA_DIR when the document names no locations and the variable is set."""
    storage = document.get("storage")
    data_dir = os.environ.get(DATA_DIR_ENV)
    if not data_dir or data_dir == DEFAULT_DATA_DIR or (isinstance(storage, dict) and "locations" in storage):
        return config
    try:
        locations = embedded_locations(data_dir)
    except ValidationError:
        raise ConfigError(f"{DATA_DIR_ENV} must be an absolute path, not {data_dir!r}") from None
    storage_config = config.storage.model_copy(update={"locations": locations})
    return config.model_copy(update={"storage": storage_config})


def _describe(detail: Any) -> str:
    path = ".".join(str(part) for part in detail["loc"]) or "(top level)"
    if detail["type"] == "extra_forbidden":
        parent = detail["loc"][:-1]
        allowed = _allowed_keys(parent)
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"{path} is not a known setting: remove it or correct its spelling{hint}"
    message = detail["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{path}: {message}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys of the model at `loc` (walking models, dict values and optional fields by name)."""
    model: Any = OperatorConfig
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        field = next((f for name, f in fields.items() if part in (name, f.alias)), None)
        if field is None:  # a dict key (a location name): the dict's value type follows
            continue
        model = _model_in(field.annotation)
        if model is None:
            return []
    fields = getattr(model, "model_fields", {})
    return [f.alias or name for name, f in fields.items()]


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside `X | None` or `dict[str, X]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None
