"""Key rotation, emergency revocation and re-signing: workflows over keys (`core.keys`), signing
(`core.sign`), verification (`core.verify`), cluster policies (`core.clusters`) and the trust config
(`core.config_edit`). Nothing below imports this package (verification looks keys up in `core.keys`).
"""
