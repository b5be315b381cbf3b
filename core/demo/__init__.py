"""The demo environment: a local OCI-layout registry, keys, history and bypasses; no network."""
