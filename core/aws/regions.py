"""Which AWS accounts and regions a command acts in, resolved the same way by every command and view.

`--profile`/`--region` when given; else every `[aws] profiles` (empty = the default credential chain) ×
`[aws] regions` (empty = each profile's own region: AWS_REGION, else AWS_DEFAULT_REGION, else the profile's
`region`, the order of the AWS CLI). Free of boto3 at import (it takes about a second): the console's bypass
form resolves regions too, and boto3 is loaded only to read a profile's own region.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.config.model import Config
from core.errors import AwsError, ConfigError, InputError

MAX_TARGETS = 200


@dataclass(frozen=True)
class AwsTarget:
    profile: str     # "" = the default credential chain
    region: str

    @property
    def label(self) -> str:
        return f"{self.profile or 'default'}/{self.region}"


def aws_targets(config: Config, *, profile: str | None = None, region: str | None = None) -> list[AwsTarget]:
    profiles = [profile] if profile is not None else list(config.aws.profiles) or [""]
    targets: list[AwsTarget] = []
    for name in profiles:
        regions = [region] if region else list(config.aws.regions) or [_default_region(name)]
        targets.extend(AwsTarget(name, r) for r in regions)
    if len(targets) > MAX_TARGETS:
        raise ConfigError(f"{len(targets)} profile/region pairs; at most {MAX_TARGETS}", field="aws")
    return targets


def single_region(config: Config, *, region: str | None = None) -> str:
    """The region of something named by function and region only (a bypass scope), resolved as above;
    refused when the configuration leaves more than one."""
    regions = sorted({t.region for t in aws_targets(config, region=region)})
    if len(regions) > 1:
        raise InputError(f"{len(regions)} AWS regions are configured ({', '.join(regions[:5])}); give --region")
    return regions[0]


def _default_region(profile: str) -> str:
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):  # AWS_REGION: the AWS CLI and other SDKs; boto3 skips it
        if os.environ.get(variable):
            return os.environ[variable]
    import boto3  # only here: reading the profile's own `region` (see the module docstring)
    from botocore.exceptions import BotoCoreError

    try:
        region: str | None = boto3.session.Session(profile_name=profile or None).region_name
    except BotoCoreError as exc:
        raise AwsError(f"AWS profile '{profile}': {exc}") from None
    if not region:
        raise ConfigError(f"no region for AWS profile '{profile or 'default'}': give --region, or set [aws] "
                          "regions, AWS_REGION or AWS_DEFAULT_REGION", field="aws.regions")
    return region
