"""`python -m tui.screenshots` (make screenshots): one SVG per view, taken headlessly from the demo.

The demo is built in a fixed temporary directory at a fixed time, so what can be stable is (paths,
times, counts, layout); key fingerprints and bypass ids are random per build by design.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from core.clock import FixedClock
from core.demo.builder import build_demo, open_demo_context
from tui.app import SignetApp
from tui.screens import VIEW_NAMES

SIZE = (140, 40)
DEMO_TIME = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)
DEMO_DIR = Path(tempfile.gettempdir()) / "signet-screenshots-demo"
SETTLE_ROUNDS = 4
SETTLE_TIMEOUT_S = 30.0
POLL_S = 0.05
# Keys pressed in a view before its screenshot, to show it doing its job.
SCRIPTS: dict[str, tuple[str, ...]] = {
    "registries": ("enter", "down", "down", "down", "enter", "V"),  # demo › payments-api, verified
    "lambda": ("v", "enter"),  # every function verified, then the first profile/region's
}


async def _settle(app: SignetApp, pilot) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        for _ in range(SETTLE_ROUNDS):
            await pilot.pause()
            await app.workers.wait_for_complete()
        if app.view is None or app.view.ready or time.monotonic() > deadline:
            break
        await pilot.pause(POLL_S)
    await pilot.pause()


async def shoot(view: str, out_dir: Path, demo_dir: Path, clock: FixedClock) -> Path:
    context = open_demo_context(demo_dir, clock=clock)
    app = SignetApp(context, start_view=view)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await _settle(app, pilot)
            for key in SCRIPTS.get(view, ()):
                await pilot.press(key)
                await _settle(app, pilot)
            return Path(app.save_screenshot(filename=f"{view}.svg", path=str(out_dir)))
    finally:
        context.close()


async def main(out_dir: Path, views: tuple[str, ...], *, demo_dir: Path = DEMO_DIR) -> list[Path]:
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    clock = FixedClock(DEMO_TIME)
    build_demo(demo_dir, clock=clock)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [await shoot(view, out_dir, demo_dir, clock) for view in views]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="screenshots", help="directory for the SVG files")
    parser.add_argument("views", nargs="*", help=f"views to shoot (default: all of {', '.join(VIEW_NAMES)})")
    args = parser.parse_args()
    unknown = sorted(set(args.views) - set(VIEW_NAMES))
    if unknown:
        parser.error(f"unknown views: {', '.join(unknown)}")
    for path in asyncio.run(main(Path(args.out), tuple(args.views) or VIEW_NAMES)):
        print(path)
