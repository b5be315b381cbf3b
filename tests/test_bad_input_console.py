"""Outside text in the console: references, reasons, actors and audit subjects carrying terminal
escape sequences and Rich markup are shown inert (escapes neutralised, markup literal).

History rows can hold such text: a malformed reference is recorded as given (with result `error`),
and cluster content or registries name images. Nothing of it may reach the terminal as an escape
sequence (OSC 52 would write the operator's clipboard) or be interpreted as markup.
"""

from __future__ import annotations

from datetime import timedelta

from core.history.records import record_verifications
from core.text import has_control_chars
from tests.support.console import NOW, console_context, screen_text, settle
from tui.app import SignetApp

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"
CSI = "\x1b[2J\x1b[31m"
MARKUP = "[bold red]FAKE[/]"


def seed(ctx) -> None:
    with ctx.store.write() as db:
        record_verifications(db, [
            dict(at=NOW - timedelta(minutes=1), actor="mallory" + CSI, source="cli",
                 reference=f"registry.example/app{OSC52}:{MARKUP}", digest=None, result="error",
                 reason=f"image reference contains control characters {CSI}{MARKUP}"),
            dict(at=NOW - timedelta(minutes=2), actor="alice", source="sweep",
                 reference="registry.example/ok:v1", digest="sha256:" + "ab" * 32, result="verified",
                 reason="signed by 1 trusted key(s), threshold 1"),
        ])
        ctx.audit("test.seed" + CSI, "subject " + OSC52 + MARKUP, {"note": OSC52})


async def test_history_and_audit_show_hostile_text_inert(tmp_path):
    ctx = console_context(tmp_path)
    seed(ctx)
    for view in ("history", "audit", "dashboard"):
        app = SignetApp(ctx, start_view=view)
        async with app.run_test(size=(200, 45)) as pilot:
            await settle(app, pilot)
            text = screen_text(app)
            assert not has_control_chars(text), (view, repr(text[:300]))
            assert "\x07" not in text and "\x1b" not in text
            if view == "history":
                assert "registry.example/ok:v1" in text  # the view really shows the rows
                assert MARKUP in text, "markup must be shown literally, not interpreted"
    ctx.close()
