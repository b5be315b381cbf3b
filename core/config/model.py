"""The effective configuration: typed, frozen, with defaults that are safe."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RegistryConfig:
    name: str
    url: str
    auth: str = "docker"  # anonymous | basic | docker | ecr
    username: str = ""
    password_env: str = ""  # name of an environment variable holding the password, never the password
    insecure: bool = False  # allow plain HTTP / self-signed TLS for this registry
    ca_file: str = ""


@dataclass(frozen=True)
class ClusterConfig:
    context: str
    kubeconfig: str = ""
    name: str = ""


@dataclass(frozen=True)
class AwsConfig:
    profiles: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    demo_lambda: str = ""  # a functions file answered instead of AWS Lambda (the demo; core/lambdas/file_client.py)


@dataclass(frozen=True)
class AttestationRequirementConfig:
    """One `[[trust.attestations]]` entry: an attestation every verification demands."""

    type: str                               # cosign's name (vuln, slsaprovenance1, ...) or a predicate type URI
    conditions: tuple[str, ...] = ()        # CEL, all must hold
    max_severity: str = ""
    slsa_builder_id: str = ""
    slsa_source_repo: str = ""


@dataclass(frozen=True)
class TrustConfig:
    keys: tuple[str, ...] = ()  # PEM paths or key-store ids/names/fingerprint prefixes
    trusted_root: str = ""
    certificate_identity: str = ""
    certificate_oidc_issuer: str = ""
    notation_config: str = ""     # notation's config directory (trust policy + trust store); "" = notation's default
    aws_signer_revocation: bool = False  # ask signer:GetRevocationStatus for AWS Signer signatures (network)
    tuf_repository: str = ""      # TUF repository (URL or local mirror directory) serving trusted_root.json
    tuf_root: str = ""            # the TUF root.json first trusted for it (pinned out of band)
    max_root_age_seconds: int = 30 * 24 * 3600  # `max_root_age`: warn when the trusted root is older
    # What a verification demands unless the command asks otherwise (console actions take these)
    threshold: int = 1
    annotations: tuple[str, ...] = ()      # "key=value": required in the signed payload
    payload_types: tuple[str, ...] = ()    # accepted critical.type values (default: cosign's)
    # Does a verified index signature cover the platform children the index lists? On by default:
    # the signed index names each child by digest (so it binds them), and admission (Kyverno,
    # policy-controller) verifies the tag's index and so admits its children. False: cosign's rule,
    # a digest counts only with its own signature. README "Multi-arch images" explains both.
    index_signature_covers_children: bool = True
    attestations: tuple[AttestationRequirementConfig, ...] = ()  # [[trust.attestations]]


@dataclass(frozen=True)
class PolicyConfig:
    max_bypass_seconds: int = 24 * 3600
    bypass_request_ttl_seconds: int = 2 * 3600
    bypass_approvals: int = 1
    exception_namespace: str = "kyverno"
    verify_images_policy: str = "signet-verify-images"
    verify_images_rule: str = "verify-signature"
    backup_drill_interval_days: int = 90
    rotation_soak_min_coverage: float = 1.0


@dataclass(frozen=True)
class LimitsConfig:
    max_manifest_bytes: int = 4 * 1024 * 1024
    max_payload_bytes: int = 128 * 1024
    max_blob_bytes: int = 128 * 1024 * 1024
    max_signatures: int = 100
    max_layers: int = 1000
    max_referrers: int = 100
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    image_timeout: float = 120.0  # one image's whole verification: every registry request it makes
    max_redirects: int = 5
    concurrency: int = 16
    cache_ttl_seconds: float = 30.0  # how long tag->digest and .sig lookups are reused (staleness bound)


ENVIRONMENT_TIERS = ("production", "staging", "development")


@dataclass(frozen=True)
class EnvironmentConfig:
    """Which environment this Signet home watches, shown on every console view (k9s per-context skin)."""

    name: str = ""
    tier: str = ""  # production | staging | development; empty: inferred from the name

    @property
    def resolved_tier(self) -> str:
        """The tier given, else "production" for a name mentioning prod, "staging" for stag, else
        development. (A home with no name shows no banner at all.)"""
        if self.tier:
            return self.tier
        lowered = self.name.lower()
        return "production" if "prod" in lowered else "staging" if "stag" in lowered else "development"


@dataclass(frozen=True)
class StoreConfig:
    """Where state lives when neither --db nor SIGNET_DB says: a team database URL (postgresql://...)."""

    url: str = ""


@dataclass(frozen=True)
class Config:
    identity: str = ""
    read_only: bool = False
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    registries: tuple[RegistryConfig, ...] = ()
    clusters: tuple[ClusterConfig, ...] = ()
    aws: AwsConfig = AwsConfig()
    trust: TrustConfig = TrustConfig()
    policy: PolicyConfig = PolicyConfig()
    limits: LimitsConfig = LimitsConfig()
    environment: EnvironmentConfig = EnvironmentConfig()
    store: StoreConfig = StoreConfig()
    source: str = ""  # the file it came from, if any

    def registry_for(self, host: str) -> RegistryConfig | None:
        for reg in self.registries:
            if _host_of(reg.url) == host:
                return reg
        return None


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]
