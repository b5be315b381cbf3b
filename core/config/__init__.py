from core.config.model import (AwsConfig, ClusterConfig, Config, LimitsConfig, PolicyConfig, RegistryConfig,
                               TrustConfig)
from core.config.loader import load_config, parse_duration, masked_config

__all__ = ["AwsConfig", "ClusterConfig", "Config", "LimitsConfig", "PolicyConfig", "RegistryConfig",
           "TrustConfig", "load_config", "parse_duration", "masked_config"]
