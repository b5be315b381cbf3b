"""RFC 7386 JSON merge patch: what a Kubernetes API server does with a merge patch (and, for the fields it
names, a server-side apply); the demo's file-backed cluster (core/kube/file_api.py) does the same."""

from __future__ import annotations

import copy
from typing import Any


def json_merge_patch(target: Any, patch: Any) -> Any:
    """`target` with `patch` merged in (null deletes, maps merge, everything else replaces); neither is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = json_merge_patch(merged.get(key), value)
    return merged
