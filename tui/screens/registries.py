"""Registries: registry -> repository -> tags/digests with a status badge; `v` verifies in a worker.

Each registry is probed in its own worker group, so an unreachable one shows as such (after its
timeout) while the others list and the view stays usable.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding

from core.config.model import RegistryConfig
from core.console.registries import (LastResult, RegistryProbe, RepositoryEntry, SignaturePayload, TagEntry,
                                     last_results, list_repositories, list_tag_entries, probe_registry,
                                     signature_payloads)
from core.sigstore.attestation import predicate_type_for
from core.verify.attestations import AttestationResult, verify_attestations
from core.verify.result import SignatureCheck, VerificationResult
from core.verify.service import verify_images
from core.verify.verifier import Verifier
from tui.screens.base import TableView, results_summary
from tui.widgets.cells import badge, cell, short_digest
from tui.widgets.detail_pane import DetailPane, detail_text

LEVELS = ("registries", "repositories", "tags")
# What the detail pane looks for: build provenance (builder) and SBOMs (package count).
ATTESTATION_TYPES = ("slsaprovenance", "slsaprovenance1", "spdxjson", "cyclonedx")


class RegistriesView(TableView):
    VIEW_NAME = "registries"
    HAS_PROGRESS = True
    PROGRESS_KIND = "verify"
    BINDINGS = [
        Binding("enter", "drill", "Open", id="drill"),
        Binding("v", "verify", "Verify", id="verify"),
        Binding("V,shift+v", "verify_all", "Verify all shown", key_display="V", id="verify_all"),
        Binding("a", "attestations", "Attestations", id="attestations"),
        Binding("y", "payloads", "Signed payloads", id="payloads"),
    ]

    def __init__(self, context, *, initial_filter: str = "") -> None:
        super().__init__(context, initial_filter=initial_filter)
        self.level = 0
        self.registry: RegistryConfig | None = None
        self.repository: RepositoryEntry | None = None
        self.probes: dict[str, tuple[str, str]] = {}  # registry name -> (status, detail)
        self.repos: list[RepositoryEntry] = []
        self.tags: list[TagEntry] = []
        self.results: dict[str, LastResult] = {}
        self.verified: dict[str, VerificationResult] = {}
        self.attestations: dict[str, list[AttestationResult]] = {}
        self.payloads: dict[str, list[SignaturePayload]] = {}

    def filter_hint(self) -> str:
        return "filter the rows shown by name or tag"

    # --- loading ----------------------------------------------------------------------------
    def refresh_view(self) -> None:
        if self.level == 0:
            self._show_registries()
            for registry in self.context.config.registries:
                self._probe(registry)
        elif self.level == 1 and self.registry is not None:
            registry, context = self.registry, self.context
            self.run_job("registry-repos", lambda: list_repositories(context, registry), token=registry.name)
        elif self.level == 2 and self.repository is not None:
            repo, context = self.repository, self.context
            self.run_job("registry-tags", lambda: self._tags_with_results(context, repo), token=repo.base)

    @staticmethod
    def _tags_with_results(context, repo: RepositoryEntry) -> tuple[list[TagEntry], dict[str, LastResult]]:
        tags = list_tag_entries(context, repo)
        return tags, last_results(context, [t.digest for t in tags if t.digest])

    def _probe(self, registry: RegistryConfig) -> None:
        self.probes[registry.name] = ("checking", "")
        context = self.context
        self.run_job(f"probe:{registry.name}", lambda: probe_registry(context, registry), token=registry.name)

    def job_done(self, kind: str, value: Any, token: Any) -> None:
        if kind.startswith("probe:"):
            probe: RegistryProbe = value
            self.probes[token] = ("reachable" if probe.reachable else "unreachable", probe.detail)
            if self.level == 0:
                self._show_registries()
        elif kind == "registry-repos" and self.level == 1:
            self.repos = value
            self._show_repos()
        elif kind == "registry-tags" and self.level == 2:
            self.tags, self.results = value
            self._show_tags()
        elif kind == "verify":
            self.stop_progress()
            for result in value:
                self.verified[result.reference] = result
            self.notify(results_summary(r.result for r in value), title="verify", markup=False)
            if self.level == 2:
                self._show_tags()

        elif kind == "payloads":
            reference, payloads = value
            self.payloads[reference] = payloads
            if not payloads:
                self.notify("no cosign signature manifest for this digest", title="payloads", markup=False)
            if self.level == 2:
                self._show_tags()
        elif kind == "attestations":
            reference, results = value
            self.attestations[reference] = results
            found = [r for r in results if r.result != "unsigned"]
            self.notify(f"{len(found)} attestation type(s) found" if found else "no attestations found",
                        title="attestations", markup=False)
            if self.level == 2:
                self._show_tags()

    # --- rendering -------------------------------------------------------------------------------
    @property
    def shown_registries(self) -> list[RegistryConfig]:
        return [r for r in self.context.config.registries if self.matches_filter(r.name, r.url)]

    @property
    def shown_repos(self) -> list[RepositoryEntry]:
        return [r for r in self.repos if self.matches_filter(r.name)]

    @property
    def shown_tags(self) -> list[TagEntry]:
        return [t for t in self.tags if self.matches_filter(t.tag, t.digest or "")]

    def _show_registries(self) -> None:
        table = self.reset_columns(("registry", 18), ("status", 12), ("url", 40), ("detail", 40))
        for registry in self.shown_registries:
            status, detail = self.probes.get(registry.name, ("", ""))
            style = {"reachable": "bold green", "unreachable": "bold red"}.get(status, "dim")
            table.add_row(cell(registry.name), Text(status, style=style), cell(registry.url), cell(detail))
        self._set_info(f"{len(self.context.config.registries)} registries configured" if
                       self.context.config.registries else "no registries configured ([[registries]] in config)")

    def _show_repos(self) -> None:
        table = self.reset_columns(("repository", 40), ("reference", 60))
        for repo in self.shown_repos:
            table.add_row(cell(repo.name), cell(repo.base, style="dim"))
        self._set_info(f"{len(self.repos)} repositories")

    def _show_tags(self) -> None:
        rows = []
        for tag in self.shown_tags:
            verified = self.verified.get(tag.reference)
            last = self.results.get(tag.digest or "")
            if verified is not None and verified.digest == tag.digest:
                status, keys, at, reason = verified.result, verified.matched_keys, "just now", verified.reason
            elif last is not None:
                status, keys, at, reason = last.result, last.matched_keys, last.at[:16], last.reason
            else:
                status, keys, at, reason = ("error" if tag.error else "unknown"), (), "", tag.error or "not checked"
            rows.append((tag.tag, (cell(tag.tag), badge(status), short_digest(tag.digest),
                                   cell(",".join(k[:12] for k in keys)), cell(at), cell(reason))))
        self._set_info(f"{len(self.tags)} tags (signature tags hidden)  v verifies the selection, V all shown")
        # after v, a or p the cursor stays on the tag acted on
        self.replace_rows(rows, columns=(("tag", 16), ("status", 9), ("digest", 19), ("keys", 13), ("checked", 16),
                                         ("reason", 50)))

    def _set_info(self, text: str) -> None:
        crumbs = " › ".join(x for x in (self.registry.name if self.registry and self.level else "",
                                         self.repository.name if self.repository and self.level == 2 else "") if x)
        self.set_info(text)
        self.query_one("#status-bar").set_crumbs(crumbs)  # type: ignore[attr-defined]

    def apply_filter(self, text: str) -> None:
        (self._show_registries, self._show_repos, self._show_tags)[self.level]()

    def show_detail(self, index: int) -> None:
        pane = self.query_one(DetailPane)
        if self.level == 0 and index < len(self.shown_registries):
            registry = self.shown_registries[index]
            status, detail = self.probes.get(registry.name, ("", ""))
            pane.show(f"registry {registry.name}", [("url", registry.url), ("auth", registry.auth),
                                                     ("status", status), ("detail", detail)])
        elif self.level == 1 and index < len(self.shown_repos):
            repo = self.shown_repos[index]
            pane.show(f"repository {repo.name}", [("registry", repo.registry), ("reference", repo.base)])
        elif self.level == 2 and index < len(self.shown_tags):
            pane.show_text(self._tag_detail(self.shown_tags[index]))

    def _tag_detail(self, tag: TagEntry) -> Text:
        verified = self.verified.get(tag.reference)
        last = self.results.get(tag.digest or "")
        fields: list[tuple[str, Any]] = [("digest", tag.digest), ("error", tag.error)]
        if verified is not None:
            fields += [("result", verified.result), ("reason", verified.reason),
                       ("matched keys", "\n  " + "\n  ".join(verified.matched_keys) if verified.matched_keys else "")]
            for check in verified.signatures:
                fields.append((f"signature {check.source}#{check.index}", _signature_text(check)))
            if verified.details:
                fields.append(("details", json.dumps(verified.details, indent=2, sort_keys=True)))
        elif last is not None:
            fields += [("last result", f"{last.result} at {last.at}"), ("reason", last.reason),
                       ("matched keys", "\n  " + "\n  ".join(last.matched_keys) if last.matched_keys else ""),
                       ("signatures", json.dumps(last.details.get("signatures", []), indent=2))]
        for p in self.payloads.get(tag.reference, ()):
            annotations = "".join(f"\n  {k}: {v}" for k, v in sorted(p.annotations.items()))
            fields.append((f"signed payload #{p.index} ({p.layer_digest[:19]}, not verified here)",
                           "\n" + p.payload + ("\n annotations:" + annotations if annotations else "")))
        for attestation in self.attestations.get(tag.reference, ()):
            summaries = "".join(
                (f"\n  builder {x.builder_id}" if x.builder_id else "")
                + (f"\n  source {x.source_repository}" if x.source_repository else "")
                + (f"\n  SBOM packages {x.package_count}" if x.package_count is not None else "")
                for x in attestation.summaries)
            fields.append((f"attestation {attestation.predicate_type}",
                           f"{attestation.result}: {attestation.reason}{summaries}"))
        return detail_text(tag.reference, fields)

    # --- navigation ----------------------------------------------------------------------------
    def action_drill(self) -> None:
        row = self.table.cursor_row
        if self.level == 0 and row < len(self.shown_registries):
            self.registry, self.level, self.repos = self.shown_registries[row], 1, []
            self._show_repos()
        elif self.level == 1 and row < len(self.shown_repos):
            self.repository, self.level, self.tags = self.shown_repos[row], 2, []
            self._show_tags()
        else:
            super().action_drill()
            return
        self.refresh_view()

    def show_level(self) -> None:
        (self._show_registries, self._show_repos, self._show_tags)[self.level]()

    # --- verification --------------------------------------------------------------------------
    def action_verify(self) -> None:
        row = self.table.cursor_row
        if self.level != 2 or not 0 <= row < len(self.shown_tags):
            self.notify("open a repository and select a tag to verify (V verifies every tag shown)",
                        severity="warning", markup=False)
            return
        self._verify([self.shown_tags[row]])

    def action_verify_all(self) -> None:
        if self.level != 2 or not self.shown_tags:
            self.notify("open a repository to verify its tags", severity="warning", markup=False)
            return
        self._verify(self.shown_tags)

    def _verify(self, tags: list[TagEntry]) -> None:
        context = self.context
        references = [t.reference for t in tags]

        def verify(report: Callable[[int, int], None]) -> list[VerificationResult]:
            return verify_images(context, references, Verifier.for_args(context), source="tui", progress=report)

        self.run_with_progress(len(references), verify, cli=[("verify", *references)])

    def action_attestations(self) -> None:
        row = self.table.cursor_row
        if self.level != 2 or not 0 <= row < len(self.shown_tags):
            self.notify("select a tag to look for its attestations", severity="warning", markup=False)
            return
        reference, context = self.shown_tags[row].reference, self.context

        def check() -> tuple[str, list[AttestationResult]]:
            verifier = Verifier.for_args(context)
            return reference, [verify_attestations(context, reference, verifier,
                                                   predicate_type=predicate_type_for(name))
                               for name in ATTESTATION_TYPES]

        self.run_job("attestations", check,
                     cli=[("verify-attestation", reference, "--type", name) for name in ATTESTATION_TYPES])

    def action_payloads(self) -> None:
        row = self.table.cursor_row
        if self.level != 2 or not 0 <= row < len(self.shown_tags) or not self.shown_tags[row].digest:
            self.notify("select a tag to read its signed payloads", severity="warning", markup=False)
            return
        tag, context = self.shown_tags[row], self.context
        digest = tag.digest or ""
        self.run_job("payloads", lambda: (tag.reference, signature_payloads(context, tag.reference, digest)))


# Notary Project checks carry these; they are shown as lines of their own, the rest as JSON.
_SIGNATURE_FACTS = (("statement", "trust policy statement"), ("signing_time", "signed at"), ("expiry", "expires"))


def _signature_text(check: SignatureCheck) -> str:
    facts = {k: v for k, v in check.details.items() if k not in dict(_SIGNATURE_FACTS) and k != "format"}
    return (("ok" if check.ok else f"not counted: {check.reason}")
            + (f"\n  key {check.key_fingerprint}" if check.key_fingerprint else "")
            + (f"\n  identity {check.identity}" + (f" ({check.issuer})" if check.issuer else "")
               if check.identity else "")
            + "".join(f"\n  {label} {check.details[key]}" for key, label in _SIGNATURE_FACTS
                      if check.details.get(key))
            + (f"\n  {json.dumps(facts, indent=2, sort_keys=True)}" if facts else ""))
