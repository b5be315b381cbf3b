"""Configuration: defaults < TOML file < environment < flags.

A malformed file is one clear error naming the file, the line and the field; nothing starts
half-configured.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from core.config.model import (ENVIRONMENT_TIERS, AttestationRequirementConfig, AwsConfig, ClusterConfig, Config,
                               EnvironmentConfig, LimitsConfig, PolicyConfig, RegistryConfig, StoreConfig, TrustConfig)
from core.errors import ConfigError
from core.store.target import is_team_store
from core.text import has_control_chars

MAX_CONFIG_BYTES = 1024 * 1024
ROLES = ("operator", "custodian", "approver")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TOP_KEYS = {"identity", "read_only", "roles", "registries", "clusters", "aws", "trust", "policy", "limits",
             "environment", "store"}
MAX_ENVIRONMENT_NAME = 40


def parse_duration(text: str | int, *, field: str = "duration") -> int:
    """'90s', '15m', '2h', '1d' or an integer number of seconds -> seconds."""
    if isinstance(text, bool):
        raise ConfigError("expected a duration like 2h", field=field)
    if isinstance(text, int):
        seconds = text
    else:
        parts = re.findall(r"(\d+)\s*([smhd])", str(text))
        if not parts or re.sub(r"(\d+)\s*([smhd])", "", str(text)).strip():
            raise ConfigError(f"'{text}' is not a duration like 90s, 15m, 2h or 1d", field=field)
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ConfigError("duration must be positive", field=field)
    return seconds


def format_duration(seconds: int) -> str:
    """A duration as people write it (and `parse_duration` reads it back): 48h, 1h30m, 10m, 45s, 1m30s."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


class _Reader:
    """Typed access to a TOML table that reports file:line:field on the first problem."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, message: str, field: str) -> ConfigError:
        return ConfigError(message, path=self.path, line=self._line_of(field), field=field)

    def _line_of(self, field: str) -> int | None:
        leaf = field.split(".")[-1].split("[")[0]
        section = field.split(".")[0].split("[")[0]
        pattern = re.compile(rf"^\s*\"?{re.escape(leaf)}\"?\s*=")
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}")
        in_section = "." not in field
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                in_section = True
                if leaf == section:
                    return number
            if in_section and pattern.match(line):
                return number
        return None

    def get(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, field: str) -> Any:
        if key not in table:
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(f"expected {_kind_name(kinds)}, got a boolean", field)
        if not isinstance(value, kinds):
            raise self.fail(f"expected {_kind_name(kinds)}, got {type(value).__name__}", field)
        if isinstance(value, str) and has_control_chars(value):  # names and URLs end up in terminals
            raise self.fail("contains control characters", field)
        return value

    def strings(self, table: dict[str, Any], key: str, field: str) -> tuple[str, ...]:
        value = self.get(table, key, list, [], field)
        if not all(isinstance(v, str) for v in value):
            raise self.fail("expected a list of strings", field)
        if any(has_control_chars(v) for v in value):
            raise self.fail("contains control characters", field)
        return tuple(value)

    def no_unknown(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise self.fail(f"unknown setting (allowed: {', '.join(sorted(allowed))})", name)


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _parse_table(reader: _Reader, raw: dict[str, Any], cls: type, where: str,
                 converters: dict[str, Callable[[Any], Any]] | None = None) -> Any:
    converters = converters or {}
    allowed = {f.name for f in fields(cls)} | set(converters)
    reader.no_unknown(raw, allowed, where)
    values: dict[str, Any] = {}
    for f in fields(cls):
        key = f.name
        if key in converters:
            continue
        if key not in raw:
            continue
        type_name = str(f.type)
        if type_name.startswith("tuple"):
            values[key] = reader.strings(raw, key, f"{where}.{key}")
            continue
        kind: Any = {"str": str, "int": int, "bool": bool, "float": (int, float)}[type_name]
        values[key] = reader.get(raw, key, kind, None, f"{where}.{key}")
    for key, convert in converters.items():
        if key in raw:
            try:
                name, value = convert(raw[key])
            except ConfigError as exc:
                raise reader.fail(exc.message.split(": ", 1)[-1], f"{where}.{key}") from None
            values[name] = value
    return cls(**values)


def parse_config_text(path: str, text: str) -> Config:
    """The configuration a file's text describes; `path` names the file in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=path, line=int(line.group(1)) if line else None) from None
    except RecursionError:  # tomllib recurses per nesting level: `a = [[[[...` exhausts the stack
        raise ConfigError("not valid TOML: nested too deeply", path=path) from None
    reader = _Reader(path, text)
    reader.no_unknown(raw, _TOP_KEYS, "")
    identity = reader.get(raw, "identity", str, "", "identity")
    read_only = reader.get(raw, "read_only", bool, False, "read_only")
    roles_raw = reader.get(raw, "roles", dict, {}, "roles")
    reader.no_unknown(roles_raw, set(ROLES), "roles")
    roles = {role: reader.strings(roles_raw, role, f"roles.{role}") for role in roles_raw}

    registries = []
    for i, item in enumerate(reader.get(raw, "registries", list, [], "registries")):
        if not isinstance(item, dict):
            raise reader.fail("each [[registries]] entry must be a table", "registries")
        reg = _parse_table(reader, item, RegistryConfig, f"registries[{i}]") if {"name", "url"} <= item.keys() else None
        if reg is None:
            raise reader.fail("each registry needs 'name' and 'url'", f"registries[{i}]")
        if reg.auth not in ("anonymous", "basic", "docker", "ecr"):
            raise reader.fail("auth must be anonymous, basic, docker or ecr", "registries.auth")
        if not re.match(r"^(https?://)?[A-Za-z0-9.\-\[\]:]+(/.*)?$", reg.url):
            raise reader.fail(f"'{reg.url}' is not a registry URL", "registries.url")
        registries.append(reg)

    clusters = []
    for i, item in enumerate(reader.get(raw, "clusters", list, [], "clusters")):
        if not isinstance(item, dict) or "context" not in item:
            raise reader.fail("each [[clusters]] entry needs 'context'", "clusters")
        clusters.append(_parse_table(reader, item, ClusterConfig, f"clusters[{i}]"))

    aws = _parse_table(reader, reader.get(raw, "aws", dict, {}, "aws"), AwsConfig, "aws")

    def duration(name: str) -> Callable[[Any], tuple[str, int]]:
        return lambda v: (name, parse_duration(v, field=name))

    def attestations(items: Any) -> tuple[str, tuple[AttestationRequirementConfig, ...]]:
        if not isinstance(items, list) or not all(isinstance(i, dict) and "type" in i for i in items):
            raise ConfigError("each [[trust.attestations]] entry needs 'type'")
        return "attestations", tuple(_parse_table(reader, item, AttestationRequirementConfig,
                                                  f"trust.attestations[{i}]") for i, item in enumerate(items))

    trust = _parse_table(reader, reader.get(raw, "trust", dict, {}, "trust"), TrustConfig, "trust",
                         {"max_root_age": duration("max_root_age_seconds"), "attestations": attestations})
    policy = _parse_table(reader, reader.get(raw, "policy", dict, {}, "policy"), PolicyConfig, "policy",
                          {"max_bypass_duration": duration("max_bypass_seconds"),
                           "bypass_request_ttl": duration("bypass_request_ttl_seconds")})
    if policy.bypass_approvals < 1:
        raise reader.fail("must be at least 1", "policy.bypass_approvals")
    limits = _parse_table(reader, reader.get(raw, "limits", dict, {}, "limits"), LimitsConfig, "limits")
    for f in fields(LimitsConfig):
        if getattr(limits, f.name) <= 0:
            raise reader.fail("must be positive", f"limits.{f.name}")
    environment = _parse_table(reader, reader.get(raw, "environment", dict, {}, "environment"), EnvironmentConfig,
                               "environment")
    if len(environment.name) > MAX_ENVIRONMENT_NAME:
        raise reader.fail(f"at most {MAX_ENVIRONMENT_NAME} characters", "environment.name")
    if environment.tier and environment.tier not in ENVIRONMENT_TIERS:
        raise reader.fail(f"must be one of {', '.join(ENVIRONMENT_TIERS)}", "environment.tier")
    store = _parse_table(reader, reader.get(raw, "store", dict, {}, "store"), StoreConfig, "store")
    if store.url and not is_team_store(store.url):
        raise reader.fail("must be a postgresql:// URL or a libpq service (service=NAME); a local file is "
                          "named by --db or SIGNET_DB", "store.url")
    return Config(identity=identity, read_only=read_only, roles=roles, registries=tuple(registries),
                  clusters=tuple(clusters), aws=aws, trust=trust, policy=policy, limits=limits,
                  environment=environment, store=store, source=path)


def read_config_text(path: Path) -> str:
    """The file's text: at most MAX_CONFIG_BYTES of UTF-8, else one ConfigError naming the file."""
    try:
        # A capped read, not stat-then-read: st_size is 0 for pipes and devices (/dev/zero).
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"larger than {MAX_CONFIG_BYTES} bytes", path=str(path))
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None


def load_config(path: Path | None, *, env: Mapping[str, str] | None = None, read_only_flag: bool = False,
                required: bool = False) -> Config:
    """Defaults < file < environment < flags. A missing file is fine unless `required`."""
    env = os.environ if env is None else env
    config = Config()
    if path is not None and path.exists():
        config = parse_config_text(str(path), read_config_text(path))
    elif path is not None and required:
        raise ConfigError("file not found", path=str(path))
    if env.get("SIGNET_IDENTITY"):
        config = replace(config, identity=env["SIGNET_IDENTITY"])
    if env.get("SIGNET_ENVIRONMENT"):  # e.g. set once in a production bastion's profile
        name = env["SIGNET_ENVIRONMENT"]
        if len(name) > MAX_ENVIRONMENT_NAME or has_control_chars(name):
            raise ConfigError(f"SIGNET_ENVIRONMENT must be at most {MAX_ENVIRONMENT_NAME} printable characters")
        config = replace(config, environment=replace(config.environment, name=name))
    if env.get("SIGNET_READ_ONLY", "").lower() in ("1", "true", "yes"):
        config = replace(config, read_only=True)
    if read_only_flag:
        config = replace(config, read_only=True)
    return config


def masked_config(config: Config) -> dict[str, Any]:
    """The effective configuration as plain data, secrets masked (we only hold env var names)."""
    from dataclasses import asdict

    data = asdict(config)
    for reg in data["registries"]:
        if reg.get("username"):
            reg["username"] = reg["username"][:2] + "***"
    return data
