"""Configuration: precedence, validation with file/line/field, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.config import load_config, parse_duration
from core.errors import ConfigError
from tui.cli.main import cli

GOOD = """
identity = "alice"

[roles]
custodian = ["alice"]
approver = ["bob"]

[[registries]]
name = "ecr-prod"
url = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"
auth = "ecr"

[[registries]]
name = "lab"
url = "http://127.0.0.1:5000"
auth = "basic"
username = "robot"
password_env = "LAB_PASSWORD"
insecure = true

[[clusters]]
context = "prod-eu"

[aws]
profiles = ["prod"]
regions = ["eu-west-1", "us-east-1"]

[trust]
keys = ["/etc/signet/cosign.pub"]

[policy]
max_bypass_duration = "8h"
bypass_request_ttl = "30m"
bypass_approvals = 2

[limits]
max_payload_bytes = 65536
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_full_config_loads(tmp_path):
    config = load_config(write(tmp_path, GOOD), env={})
    assert config.identity == "alice"
    assert config.roles == {"custodian": ("alice",), "approver": ("bob",)}
    assert [r.name for r in config.registries] == ["ecr-prod", "lab"]
    assert config.registries[1].insecure is True
    assert config.aws.regions == ("eu-west-1", "us-east-1")
    assert config.policy.max_bypass_seconds == 8 * 3600
    assert config.policy.bypass_request_ttl_seconds == 1800
    assert config.policy.bypass_approvals == 2
    assert config.limits.max_payload_bytes == 65536
    assert config.limits.max_manifest_bytes == 4 * 1024 * 1024  # default kept


def test_missing_file_gives_defaults(tmp_path):
    config = load_config(tmp_path / "absent.toml", env={})
    assert config.registries == () and config.policy.max_bypass_seconds == 86400


def test_environment_overrides_file_and_flags_override_environment(tmp_path):
    path = write(tmp_path, GOOD)
    config = load_config(path, env={"SIGNET_IDENTITY": "carol", "SIGNET_READ_ONLY": "0"})
    assert config.identity == "carol" and not config.read_only
    assert load_config(path, env={"SIGNET_READ_ONLY": "true"}).read_only
    assert load_config(path, env={}, read_only_flag=True).read_only


@pytest.mark.parametrize("text, line, field, message", [
    ('identity = "a"\n[policy]\nbypass_approvals = "two"\n', 3, "policy.bypass_approvals", "expected an integer"),
    ('[limits]\nmax_payload_bytes = -1\n', 2, "limits.max_payload_bytes", "must be positive"),
    ('[policy]\nmax_bypass_duration = "forever"\n', 2, "policy.max_bypass_duration", "not a duration"),
    ('[roles]\nsuperuser = ["x"]\n', 2, "roles.superuser", "unknown setting"),
    ('colour = "blue"\n', 1, "colour", "unknown setting"),
    ('[[registries]]\nname = "x"\nurl = "https://x"\nauth = "magic"\n', 4, "registries.auth", "auth must be"),
    ('[trust]\nkeys = "one.pub"\n', 2, "trust.keys", "expected a list"),
    ('read_only = "yes"\n', 1, "read_only", "expected true or false"),
    ('[environment]\nname = "prod"\ntier = "live"\n', 3, "environment.tier", "must be one of"),
    ('[environment]\nname = "%s"\n' % ("p" * 41), 2, "environment.name", "at most 40"),
])
def test_errors_name_file_line_and_field(tmp_path, text, line, field, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    err = info.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert message in str(err)
    assert f"{path}:{line}" in str(err)


def test_toml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, 'identity = "a"\n\n[policy\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.line == 3 and "not valid TOML" in str(info.value)


def test_non_utf8_config_is_a_clear_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'identity = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, env={})


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                           ("1h30m", 5400), (3600, 3600)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "-1h", "0s", "2h and more", True])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_config_show_masks_and_reports_effective_identity(signet_home, monkeypatch):
    (signet_home / "config.toml").write_text(GOOD)
    monkeypatch.setenv("SIGNET_IDENTITY", "bob")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["effective_identity"] == "bob" and data["effective_roles"] == ["approver"]
    assert data["registries"][1]["username"] == "ro***"
    assert data["registries"][1]["password_env"] == "LAB_PASSWORD"


def test_malformed_config_stops_the_cli_with_exit_2_and_one_line(signet_home):
    (signet_home / "config.toml").write_text('[limits]\nread_timeout = "soon"\n')
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "config.toml:2" in lines[0] and "limits.read_timeout" in lines[0]
    assert "Traceback" not in result.output


def test_signet_environment_variable_names_the_environment_and_is_validated(tmp_path):
    path = write(tmp_path, '[environment]\nname = "eu-stage"\n')
    assert load_config(path, env={}).environment.resolved_tier == "staging"
    named = load_config(path, env={"SIGNET_ENVIRONMENT": "prod-payments"}).environment
    assert named.name == "prod-payments" and named.resolved_tier == "production"
    for bad in ("p" * 41, "prod\x1b[31m"):
        with pytest.raises(ConfigError, match="SIGNET_ENVIRONMENT"):
            load_config(path, env={"SIGNET_ENVIRONMENT": bad})


@pytest.mark.parametrize("name, tier, resolved", [("prod-eu", "", "production"), ("Production", "", "production"),
                                                  ("staging-2", "", "staging"), ("sandbox", "", "development"),
                                                  ("prod-copy", "development", "development")])
def test_environment_tier_is_given_or_inferred_from_the_name(tmp_path, name, tier, resolved):
    tier_line = f'tier = "{tier}"\n' if tier else ""
    config = load_config(write(tmp_path, f'[environment]\nname = "{name}"\n{tier_line}'), env={})
    assert config.environment.name == name and config.environment.resolved_tier == resolved
