"""Lambda functions packaged as images: what each one runs and whether it is verified (inventory.py),
and the release gate that deploys only a verified (or bypassed) digest (release_gate.py)."""
