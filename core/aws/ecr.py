"""ECR as a registry source: repositories and images of every configured profile/region (boto3),
and the registry entry to read them over the OCI API.

Manifests and signatures are read by the OCI registry client with ECR's short-lived token
(`core.registry.auth.ecr_credentials`, chosen by `auth = "ecr"` on a [[registries]] entry); this
module lists what exists and names the registry to configure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from core.aws.accounts import aws_reason, client_for
from core.aws.regions import AwsTarget
from core.config.model import Config, RegistryConfig
from core.errors import AwsError, LimitExceeded

MAX_REPOSITORIES = 10_000
MAX_IMAGES = 100_000


@dataclass(frozen=True)
class EcrRepository:
    profile: str
    region: str
    name: str
    uri: str
    registry_id: str

    @property
    def registry_host(self) -> str:
        return self.uri.split("/", 1)[0]

    def as_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "region": self.region, "name": self.name, "uri": self.uri,
                "registry_id": self.registry_id, "registry_host": self.registry_host}


@dataclass(frozen=True)
class EcrImage:
    repository: str
    digest: str
    tags: tuple[str, ...]
    pushed_at: str
    size: int
    media_type: str

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.repository, "digest": self.digest, "tags": list(self.tags),
                "pushed_at": self.pushed_at, "size": self.size, "media_type": self.media_type}


def list_repositories(config: Config, targets: Sequence[AwsTarget]) -> list[EcrRepository]:
    found: list[EcrRepository] = []
    for target in targets:
        client = client_for(config, "ecr", target)
        try:
            for page in client.get_paginator("describe_repositories").paginate():
                found += [EcrRepository(target.profile, target.region, r["repositoryName"], r["repositoryUri"],
                                        r["registryId"]) for r in page.get("repositories") or []]
                if len(found) > MAX_REPOSITORIES:
                    raise LimitExceeded("ECR repositories", len(found), target.label)
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"ECR {target.label}: describe_repositories: {aws_reason(exc)}") from None
    return found


def list_images(config: Config, repository: EcrRepository) -> list[EcrImage]:
    client = client_for(config, "ecr", AwsTarget(repository.profile, repository.region))
    images: list[EcrImage] = []
    try:
        pages = client.get_paginator("describe_images").paginate(repositoryName=repository.name,
                                                                  registryId=repository.registry_id)
        for page in pages:
            for detail in page.get("imageDetails") or []:
                pushed = detail.get("imagePushedAt")
                pushed_at = pushed.isoformat() if hasattr(pushed, "isoformat") else str(pushed or "")
                images.append(EcrImage(repository=repository.name, digest=detail["imageDigest"],
                                       tags=tuple(sorted(detail.get("imageTags") or [])),
                                       pushed_at=pushed_at,
                                       size=int(detail.get("imageSizeInBytes") or 0),
                                       media_type=str(detail.get("imageManifestMediaType") or "")))
            if len(images) > MAX_IMAGES:
                raise LimitExceeded("ECR images", len(images), repository.name)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(f"ECR {repository.region}: describe_images {repository.name}: {aws_reason(exc)}") from None
    return images


def registry_entry(repository: EcrRepository) -> RegistryConfig:
    """The [[registries]] entry that lets the OCI client read this repository with ECR's token."""
    return RegistryConfig(name=f"ecr-{repository.registry_id}-{repository.region}",
                          url=f"https://{repository.registry_host}", auth="ecr")
