"""Command palette (ctrl+p): jump to any brand or competitor, queue any job type, switch views."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from pipedeck.concepts.text import visible


class PipedeckCommands(Provider):
    def _commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        cache = app.catalog_cache
        out: list[tuple[str, object, str]] = []
        for mode, label in (("brands", "Brands"), ("runs", "Runs (pipeline manager)"), ("templates", "Template review"),
                            ("freshness", "Freshness matrix"), ("system", "Workers and job types"),
                            ("schedules", "Schedules (all brands)"), ("trends", "Trends (runs, failures, durations)")):
            out.append((f"View: {label}", partial(app.action_view, mode), "switch view"))
        for b in cache.brands:
            out.append((f"Brand: {b['name']}", partial(app.open_brand, b["id"]), "open the brand's screen"))
        for c in cache.competitors:
            out.append((f"Competitor: {c['name']} ({c['brand_name']})",
                        partial(app.open_competitors, c["brand_id"], c["id"]), "open the competitor"))
        for jt in app.service.job_types():
            if jt.scope == "brand":
                for b in cache.brands:
                    out.append((f"Queue {jt.key} for {b['name']}", partial(app.open_job_form, jt.key, b["id"]),
                                f"{jt.emoji} {jt.label}"))
            else:
                for c in cache.competitors:
                    out.append((f"Queue {jt.key} for {c['name']} ({c['brand_name']})",
                                partial(app.open_job_form, jt.key, c["brand_id"], c["id"]), f"{jt.emoji} {jt.label}"))
        for jt in app.service.job_types():
            if jt.scope == "brand":
                for b in cache.brands:
                    out.append((f"Schedule {jt.key} for {b['name']}",
                                partial(app.open_schedule_form, scope="brand", brand_id=b["id"], job_type=jt.key),
                                f"{jt.emoji} a recurring {jt.label.lower()}"))
            else:
                for c in cache.competitors:
                    out.append((f"Schedule {jt.key} for {c['name']} ({c['brand_name']})",
                                partial(app.open_schedule_form, scope="competitor", brand_id=c["brand_id"],
                                        competitor_id=c["id"], job_type=jt.key),
                                f"{jt.emoji} a recurring {jt.label.lower()}"))
        out.append(("Freshness policy (default for all brands)", partial(app.open_policy_form),
                    "when each dataset warns and goes stale"))
        for b in cache.brands:
            out.append((f"Freshness policy for {b['name']}", partial(app.open_policy_form, brand_id=b["id"]),
                        "override the default for this brand"))
        out.append(("Start a worker in the background", app.action_start_worker, "pipedeck worker, stopped on exit"))
        out.append(("Toggle direct mode for new jobs", app.action_toggle_direct, "run jobs inside the app"))
        out.append(("Pause or resume live refresh", app.action_toggle_pause, "p"))
        return [(visible(text), callback, visible(help_text)) for text, callback, help_text in out]

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            if text.startswith(("View:", "Brand:")):
                yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
