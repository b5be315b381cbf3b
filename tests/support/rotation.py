"""Run a rotation step from a test the way a person does: at the re-sign step, the plan is made and
confirmed first (core/rotation/resign.py signs only a confirmed plan)."""

from __future__ import annotations

import dataclasses

from core.context import SignetContext
from core.rotation.rotation import AdvanceOptions, RotationStatus, advance_rotation, resign_plan, rotation_status


def next_step(ctx: SignetContext, rotation_id: str, options: AdvanceOptions | None = None) -> RotationStatus:
    options = options or AdvanceOptions()
    if rotation_status(ctx, rotation_id).step == "resign" and options.resign_plan is None:
        plan = resign_plan(ctx, rotation_id, allow_http=options.allow_http)
        options = dataclasses.replace(options, resign_plan=plan)
    return advance_rotation(ctx, rotation_id, options)


# `python -c` code for tests/support/crash.py kill_at_marker: runs the re-sign step of rotation argv[1]
# (plan made and confirmed in the child) with the real new key ("new", NEW_PASS), printing `holding`
# and stopping at the second signature, where the test kills it.
RESIGN_UNTIL_SECOND_SIGNATURE = r"""
import sys, threading
from core.context import open_context
from core.rotation.rotation import AdvanceOptions, advance_rotation, resign_plan
from core.sign.signers import signer_for

ctx = open_context()
real = signer_for(ctx, "new", passphrase_provider=lambda _n: b"new key passphrase")

class StallingSigner:
    public_key, fingerprint, key_id = real.public_key, real.fingerprint, real.key_id
    count = 0
    def sign(self, data):
        if self.count == 1:
            print("holding", flush=True)
            threading.Event().wait()  # hold here until killed
        self.count += 1
        return real.sign(data)

advance_rotation(ctx, sys.argv[1], AdvanceOptions(signer=StallingSigner(), resign_plan=resign_plan(ctx, sys.argv[1])))
"""
