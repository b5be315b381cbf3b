from core.config.model import (AwsConfig, ClusterConfig, Config, LimitsConfig, PolicyConfig, RegistryConfig,
                               TrustConfig)
from core.config.loader import format_duration, load_config, masked_config, parse_duration

__all__ = ["AwsConfig", "ClusterConfig", "Config", "LimitsConfig", "PolicyConfig", "RegistryConfig",
           "TrustConfig", "format_duration", "load_config", "parse_duration", "masked_config"]
