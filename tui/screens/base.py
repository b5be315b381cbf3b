"""What every view shares: status bar, filter bar, footer, role gating, and background jobs.

Jobs run in thread workers owned by the view (so leaving the view cancels them), in a named group
per kind, and post `JobDone` back; only the view's handlers touch widgets.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, ClassVar, Iterable, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from core.console.filters import MAX_FILTER_CHARS
from core.context import SignetContext
from core.errors import SignetError
from core.identity import Role
from core.results import RESULTS
from tui.messages import JobDone, JobProgress
from tui.widgets.detail_pane import DetailPane
from tui.widgets.status_bar import StatusBar


# Every view's keys; in the footer they come after the view's own (see ViewScreen._merge_bindings).
SHARED_BINDINGS = [
    Binding("colon", "app.switch_view", "Views", id="views"),
    Binding("slash", "filter", "Filter", id="filter"),
    Binding("r", "refresh", "Refresh", id="refresh"),
    Binding("escape", "back", "Back", id="back"),
    Binding("question_mark", "app.help", "Help", id="help"),
]


class ViewScreen(Screen):
    VIEW_NAME: ClassVar[str] = ""
    AUTO_FOCUS = None  # views focus their main widget in prepare(); never the hidden filter bar
    BINDINGS: ClassVar[list[BindingType]] = list(SHARED_BINDINGS)
    # State-changing actions of this view and the role each needs (None: any writer).
    GATED: ClassVar[dict[str, Role | None]] = {}
    # Team-store tables whose changes by another Signet reload this view (tui/store_watch.py).
    LIVE_TABLES: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _merge_bindings(cls) -> BindingsMap:
        """The view's own keys first, the shared ones after them: the footer shows bindings in
        this order and cuts what does not fit, and at 80 columns the view's actions must stay."""
        merged = super()._merge_bindings().key_to_bindings
        shared = {binding.key for binding in SHARED_BINDINGS}
        return BindingsMap.from_keys({**{k: v for k, v in merged.items() if k not in shared},
                                      **{k: v for k, v in merged.items() if k in shared}})

    def __init__(self, context: SignetContext, *, initial_filter: str = "") -> None:
        super().__init__()
        self.context = context
        self.filter_text = initial_filter
        self._jobs: dict[str, Worker] = {}

    # --- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(self.VIEW_NAME, self.context.principal, self.context.config.environment)
        problem = getattr(self.app, "store_problem", "")
        yield Static(store_problem_text(problem), id="store-banner", classes="" if problem else "hidden")
        bar = Input(value=self.filter_text, placeholder=self.filter_hint(), id="filter-bar",
                    max_length=MAX_FILTER_CHARS)
        self._show_filter_bar(bar, bool(self.filter_text))
        yield bar
        yield from self.compose_body()
        gate = self.gate_text()
        yield Static(gate, id="gate-reason", classes="" if gate.plain else "hidden")
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def filter_hint(self) -> str:
        return "filter: text to match (enter to apply, esc to close)"

    def on_mount(self) -> None:
        # Textual calls on_mount of every class in the MRO, so subclasses use prepare() instead.
        self.prepare()
        self.initial_load()

    def initial_load(self) -> None:
        """The first load: the initial filter if one was given, else a refresh."""
        if self.filter_text:
            self.apply_filter(self.filter_text)
        else:
            self.refresh_view()

    def prepare(self) -> None:
        """Subclasses: set up widgets (table columns, focus) before the first load."""

    @property
    def ready(self) -> bool:
        """True once the first load is on screen, for headless drivers (tests, screenshots, bench)
        that must not guess with sleeps. Views loading in stages override it."""
        return True

    # --- the team store's live state ------------------------------------------------------------
    def store_changed(self, tables: frozenset[str]) -> None:
        """Another Signet changed `tables`: reload when this view shows them."""
        if tables & self.LIVE_TABLES:
            self.refresh_view()

    def show_store_problem(self, problem: str) -> None:
        """Show (or, with "", clear) the banner saying the team store cannot be reached."""
        banner = self.query_one("#store-banner", Static)
        banner.update(store_problem_text(problem))
        banner.set_class(not problem, "hidden")

    # --- role gating --------------------------------------------------------------------------
    def gate_reason(self, action: str) -> str:
        """Why `action` is disabled for this identity, or "" when it is allowed."""
        if action not in self.GATED:
            return ""
        allowed, reason = self.context.principal.can_write(self.GATED[action])
        return "" if allowed else reason

    def gate_text(self) -> Text:
        reasons: dict[str, list[str]] = {}
        for action in self.GATED:
            reason = self.gate_reason(action)
            if reason:
                reasons.setdefault(reason, []).append(action.replace("_", " "))
        text = Text()
        for reason, actions in reasons.items():
            text.append("disabled: ", style="bold")
            text.append(", ".join(actions) + f" ({reason})  ")
        return text

    def refresh_gate(self) -> None:
        """Re-evaluate the gates (views whose gates depend on the selected row call it as it moves)."""
        gate = self.gate_text()
        self.query_one("#gate-reason", Static).update(gate)
        self.query_one("#gate-reason", Static).set_class(not gate.plain, "hidden")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None keeps the binding visible but dimmed: the user sees it exists and why it is off.
        return None if self.gate_reason(action) else True

    def explain_disabled(self, action: str) -> bool:
        """Notify why `action` cannot run; True when it is disabled."""
        reason = self.gate_reason(action)
        if reason:
            self.notify(f"{action.replace('_', ' ')}: {reason}", severity="warning", markup=False)
        return bool(reason)

    # --- background jobs ----------------------------------------------------------------------
    def run_job(self, kind: str, job: Callable[[], Any], *, token: Any = None,
                cli: Sequence[Sequence[str]] = ()) -> Worker:
        """Run `job` in a thread (group = kind, a newer job of the same kind replaces the older).
        `cli`: the `signet` command line(s) doing the same, for the `@` log."""
        if cli:
            log = getattr(self.app, "cli_log", None)
            if log is not None:
                log.add(self.VIEW_NAME, cli)

        def body() -> None:
            value = job()
            if not get_current_worker().is_cancelled:
                self.post_message(JobDone(kind, value, token))

        worker = self.run_worker(body, name=kind, group=kind, thread=True, exclusive=True, exit_on_error=False,
                                 description=f"{self.VIEW_NAME}: {kind}")
        self._jobs[kind] = worker
        return worker

    def progress_reporter(self, kind: str) -> Callable[[int, int], None]:
        """A callback for core services' `progress=`: posts progress, and stops the work once the job
        is cancelled. Services may call it from their own pool threads, so the job is looked up by
        kind rather than through the calling thread."""

        def report(done: int, total: int) -> None:
            worker = self._jobs.get(kind)
            if worker is not None and worker.is_cancelled:
                raise InterruptedError("view closed")
            self.post_message(JobProgress(kind, done, total))

        return report

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Every failed job of the view ends here: a notification with the reason, never a traceback."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, InterruptedError):
            return  # the view was closed mid-job
        text = str(error) if isinstance(error, SignetError) else f"{type(error).__name__}: {error}"
        self.notify(text, title=event.worker.name or "job failed", severity="error", markup=False, timeout=10)
        self.job_failed(event.worker.name or "", error)

    def job_failed(self, kind: str, error: BaseException | None) -> None:
        """Subclasses: reset state after a failed job (e.g. a loading flag)."""

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        message.stop()
        self.job_done(message.kind, message.value, message.token)

    @on(JobProgress)
    def _job_progress(self, message: JobProgress) -> None:
        message.stop()
        self.job_progress(message.kind, message.done, message.total)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        """Subclasses: put a finished job's result on screen."""

    def job_progress(self, kind: str, done: int, total: int) -> None:
        """Subclasses: show progress."""

    # --- actions ------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Subclasses: (re)load the view's data in jobs."""

    def action_refresh(self) -> None:
        self.refresh_view()

    def action_filter(self) -> None:
        bar = self.query_one("#filter-bar", Input)
        self._show_filter_bar(bar, True)
        bar.focus()

    @staticmethod
    def _show_filter_bar(bar: Input, shown: bool) -> None:
        # Disabled while hidden so focus never lands in it (it would swallow `:` and other keys).
        bar.set_class(not shown, "hidden")
        bar.disabled = not shown

    @on(Input.Submitted, "#filter-bar")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        if not self.filter_text:
            self._show_filter_bar(event.input, False)
        self.apply_filter(self.filter_text)
        self.focus_main()

    def apply_filter(self, text: str) -> None:
        """Subclasses: filter the view (in SQL or on the loaded window)."""

    def matches_filter(self, *values: str | None) -> bool:
        """The client-side filter of views showing a bounded list: a case-blind substring of any value."""
        needle = self.filter_text.lower()
        return not needle or any(needle in (v or "").lower() for v in values)

    def focus_main(self) -> None:
        self.focus_next()

    def drill_up(self) -> bool:
        """Subclasses: leave a drilled-in level; False when already at the top."""
        return False

    def action_back(self) -> None:
        bar = self.query_one("#filter-bar", Input)
        if bar.has_focus:
            if not bar.value:
                self._show_filter_bar(bar, False)
            self.focus_main()
            return
        if not self.drill_up():
            self.app.action_back()  # type: ignore[unused-coroutine]  # SignetApp.action_back is synchronous


class TableView(ViewScreen):
    """A view around one main DataTable and a detail pane: enter focuses the detail, esc returns.
    An info line sits above them, and a progress bar for views with long jobs."""

    TABLE_ID: ClassVar[str] = "main-table"
    HAS_PROGRESS: ClassVar[bool] = False
    PROGRESS_KIND: ClassVar[str | None] = None  # the job kind the progress bar follows
    level: int = 0  # views that drill down through levels: 0 at the top
    _flex_min: int = 0
    # The column given the width the others leave (e.g. History's reason); its set width is the minimum.
    FLEX_COLUMN: ClassVar[str | None] = None
    ROW_GATES: ClassVar[bool] = False  # gate_reason depends on the selected row: re-checked as the cursor moves

    def compose_body(self) -> ComposeResult:
        yield Static("", id="view-info", classes="info-line")
        if self.HAS_PROGRESS:
            yield ProgressBar(id="progress", show_eta=False, classes="hidden")
        with Horizontal(classes="view-body"):
            yield DataTable(id=self.TABLE_ID, classes="main-table", cursor_type="row", zebra_stripes=True)
            yield DetailPane()

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.TABLE_ID}", DataTable)

    def prepare(self) -> None:
        self.table.focus()

    def set_info(self, text: Text | str) -> None:
        self.query_one("#view-info", Static).update(text if isinstance(text, Text) else Text(text))

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_flex_column)

    def fit_flex_column(self) -> None:
        """Widen FLEX_COLUMN to the table's width left over by the other columns."""
        table = self.query_one_optional(f"#{self.TABLE_ID}", DataTable)
        if table is None:
            return  # deferred call on a view closed before its layout settled (its widgets are gone)
        column = next((c for c in table.columns.values() if c.key.value == self.FLEX_COLUMN), None)
        if column is None or not table.size.width:
            return
        others = sum(c.get_render_width(table) for c in table.columns.values() if c is not column)
        free = table.scrollable_content_region.width - others - 2 * table.cell_padding
        width = max(self._flex_min, free)
        if width != column.width:
            column.width = width
            table._require_update_dimensions = True  # no public setter for a column's width
            table._clear_caches()
            table.refresh(layout=True)

    def reset_columns(self, *columns: tuple[str, int]) -> DataTable:
        """Replace the table's columns (views whose levels show different things)."""
        table = self.table
        table.clear(columns=True)
        for label, width in columns:
            table.add_column(label, width=width, key=label)
        return table

    def replace_rows(self, rows: Iterable[tuple[str, Sequence[Any]]], *,
                     columns: Sequence[tuple[str, int]] | None = None) -> DataTable:
        """Replace the table's rows (`(key, cells)` pairs), keeping the cursor on the row with the
        same key: a refresh after an action must not move the selection to another item. When that
        row is gone the cursor stays at the same position. The detail pane follows the cursor.
        `columns`: the list's columns (views with drill levels); other columns than shown mean
        another list, which starts at its first row."""
        table = self.table
        index = table.cursor_row
        selected = self.selected_key
        if columns is not None and [(str(c.label), c.width) for c in table.columns.values()] != list(columns):
            self.reset_columns(*columns)
            index, selected = 0, None
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if selected is not None and selected in table.rows:
            index = table.get_row_index(selected)
        if table.row_count:
            table.move_cursor(row=min(max(index, 0), table.row_count - 1))
            self.show_detail(table.cursor_row)
        else:
            self.clear_detail()
        if self.ROW_GATES:
            self.refresh_gate()
        return table

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor (None on an empty table or a row added without a key)."""
        table = self.table
        if not 0 <= table.cursor_row < table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def clear_detail(self) -> None:
        """Nothing selected (e.g. a filter matched no row): the pane must not keep an old row."""
        detail = self.query_one_optional(DetailPane)
        if detail is not None:
            detail.show_text(Text("No row selected.", style="dim"))

    def start_progress(self, total: int | None) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.update(total=total, progress=0)
        bar.remove_class("hidden")

    def stop_progress(self) -> None:
        self.query_one("#progress", ProgressBar).add_class("hidden")

    def run_with_progress(self, total: int | None, job: Callable[[Callable[[int, int], None]], Any], *,
                          cli: Sequence[Sequence[str]] = ()) -> Worker:
        """Run `job(report)` as the PROGRESS_KIND job with the progress bar shown; the bar hides when
        the job fails (a successful job's `job_done` calls `stop_progress`)."""
        kind = self.PROGRESS_KIND
        assert kind is not None, "run_with_progress needs PROGRESS_KIND"
        report = self.progress_reporter(kind)
        self.start_progress(total)
        return self.run_job(kind, lambda: job(report), cli=cli)

    def job_failed(self, kind: str, error: BaseException | None) -> None:
        if self.PROGRESS_KIND is not None and kind == self.PROGRESS_KIND:
            self.stop_progress()

    def job_progress(self, kind: str, done: int, total: int) -> None:
        if self.HAS_PROGRESS:
            self.query_one("#progress", ProgressBar).update(total=total, progress=done)

    def focus_main(self) -> None:
        self.table.focus()

    def add_columns(self, *columns: tuple[str, int]) -> None:
        for label, width in columns:
            self.table.add_column(label, width=width, key=label)
            if label == self.FLEX_COLUMN:
                self._flex_min = width
        self.table.focus()
        self.call_after_refresh(self.fit_flex_column)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == self.TABLE_ID:
            self.show_detail(event.cursor_row)
            self.row_reached(event.cursor_row)
            if self.ROW_GATES:
                self.refresh_gate()

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == self.TABLE_ID:
            self.action_drill()

    def show_detail(self, index: int) -> None:
        """Subclasses: fill the detail pane for row `index`."""

    def row_reached(self, index: int) -> None:
        """Subclasses: the cursor reached row `index` (fetch the next page near the end)."""

    def action_drill(self) -> None:
        self.show_detail(self.table.cursor_row)
        detail = self.query_one_optional(DetailPane)
        if detail is not None:
            detail.focus()

    def show_level(self) -> None:
        """Subclasses with drill levels: show the current `self.level`."""

    def drill_up(self) -> bool:
        """Leave the detail pane, else go up one drill level; False when already at the top."""
        detail = self.query_one_optional(DetailPane)
        if detail is not None and detail.has_focus_within:
            self.focus_main()
            return True
        if self.level == 0:
            return False
        self.level -= 1
        self.show_level()
        return True


def store_problem_text(problem: str) -> Text:
    """The banner's line: plain text (the reason comes from the server), never markup."""
    text = Text()
    if problem:
        text.append(" store unreachable ", style="bold reverse")
        text.append(f" {problem}; reconnecting…")
    return text


def results_summary(results: Iterable[str]) -> str:
    """'3 images: 2 verified, 1 invalid' for a notification after verifying several images."""
    counts = Counter(results)
    total = sum(counts.values())
    parts = [f"{counts[r]} {r}" for r in RESULTS if counts.get(r)] + [
        f"{n} {r}" for r, n in sorted(counts.items()) if r not in RESULTS]
    return f"{total} image{'s' if total != 1 else ''}: " + ", ".join(parts)
