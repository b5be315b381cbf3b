"""Run a rotation step from a test the way a person does: at the re-sign step, the plan is made and
confirmed first (core/keys/resign.py signs only a confirmed plan)."""

from __future__ import annotations

import dataclasses

from core.context import SignetContext
from core.keys.rotation import AdvanceOptions, RotationStatus, advance_rotation, resign_plan, rotation_status


def next_step(ctx: SignetContext, rotation_id: str, options: AdvanceOptions | None = None) -> RotationStatus:
    options = options or AdvanceOptions()
    if rotation_status(ctx, rotation_id).step == "resign" and options.resign_plan is None:
        plan = resign_plan(ctx, rotation_id, allow_http=options.allow_http)
        options = dataclasses.replace(options, resign_plan=plan)
    return advance_rotation(ctx, rotation_id, options)
