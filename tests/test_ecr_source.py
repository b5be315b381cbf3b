"""ECR as a registry source: repositories and images through boto3 against moto's server, and the
token the OCI client uses for them."""

from __future__ import annotations

import json

import boto3

from core.aws.regions import aws_targets
from core.aws.ecr import list_images, list_repositories, registry_entry
from core.config.model import AwsConfig, Config
from core.registry.auth import ecr_credentials
from tests.support.oci import build_image


def test_repositories_images_and_the_registry_entry(aws_endpoint):
    config = Config(aws=AwsConfig(regions=("eu-west-1", "us-east-1")))
    ecr = boto3.client("ecr", region_name="eu-west-1")
    ecr.create_repository(repositoryName="team/app")
    image = build_image()
    pushed = ecr.put_image(repositoryName="team/app", imageManifest=image.manifest.decode(), imageTag="v1",
                           imageManifestMediaType=json.loads(image.manifest)["mediaType"])
    # moto names an image by sha256 over its layer digests, not over the manifest bytes as ECR does,
    # so the listing is checked against what moto said it stored.
    stored_digest = pushed["image"]["imageId"]["imageDigest"]
    boto3.client("ecr", region_name="us-east-1").create_repository(repositoryName="other")
    repos = list_repositories(config, aws_targets(config))
    assert sorted((r.region, r.name) for r in repos) == [("eu-west-1", "team/app"), ("us-east-1", "other")]
    app = next(r for r in repos if r.name == "team/app")
    assert app.registry_host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    (found,) = list_images(config, app)
    assert found.digest == stored_digest and found.tags == ("v1",) and found.size > 0
    entry = registry_entry(app)
    assert entry.auth == "ecr" and entry.url == "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    credentials = ecr_credentials(app.registry_host, config)
    assert credentials.username == "AWS" and credentials.password
    assert list_images(config, next(r for r in repos if r.name == "other")) == []
