"""Command line: `pipedeck` opens the TUI; subcommands script everything else.

Bad input exits non-zero with one line on stderr: ``pipedeck: <what is wrong>``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from datetime import datetime
from typing import Sequence

from pipedeck import __version__
from pipedeck.errors import StorageError, UserError
from pipedeck.concepts import durations
from pipedeck.concepts.statuses import status_label


from pipedeck.cli_support import (Parser, UsageError, emit_json, iso, parse_sets, run_json,  # noqa: F401
                                  service as _service, table)


# -- commands ------------------------------------------------------------------
def cmd_brands(args, settings) -> int:
    svc = _service(settings)
    if args.brands_cmd == "add":
        brand = svc.add_brand(args.name, args.meta_ad_account, args.ad_library_page_id)
        print(brand["id"])
    elif args.brands_cmd == "edit":
        changes = {}
        if args.rename is not None:
            changes["name"] = args.rename
        if args.meta_ad_account is not None:
            changes["meta_ad_account_id"] = args.meta_ad_account
        if args.ad_library_page_id is not None:
            changes["ad_library_page_id"] = args.ad_library_page_id
        if not changes:
            raise UsageError("nothing to change: pass --name, --meta-ad-account or --ad-library-page-id")
        svc.edit_brand(args.name, **changes)
    else:
        brands = svc.brands()
        if args.json:
            emit_json([{k: b[k] for k in ("id", "name", "meta_ad_account_id", "ad_library_page_id")} for b in brands])
        elif brands:
            print(table([(b["id"], b["name"], b["meta_ad_account_id"] or "-", b["ad_library_page_id"] or "-")
                         for b in brands], ["ID", "NAME", "META AD ACCOUNT", "AD LIBRARY PAGE"]))
        else:
            print("no brands yet: pipedeck brands add NAME --meta-ad-account ID", file=sys.stderr)
    return 0


def cmd_competitors(args, settings) -> int:
    svc = _service(settings)
    if args.competitors_cmd == "add":
        row = svc.add_competitor(args.brand, args.name, args.ad_library_url)
        print(row["id"])
    elif args.competitors_cmd == "edit":
        row = svc.competitor(args.name, args.brand)
        if args.rename is None and args.ad_library_url is None:
            raise UsageError("nothing to change: pass --name or --ad-library-url")
        svc.edit_competitor(row["id"], name=args.rename, ad_library_url=args.ad_library_url)
    else:
        rows = svc.competitors(args.brand)
        if args.json:
            emit_json([{"id": r["id"], "name": r["name"], "brand": r["brand_name"],
                        "ad_library_url": r["ad_library_url"]} for r in rows])
        elif rows:
            print(table([(r["id"], r["brand_name"], r["name"], r["ad_library_url"]) for r in rows],
                        ["ID", "BRAND", "NAME", "AD LIBRARY URL"]))
        else:
            print("no competitors yet: pipedeck competitors add NAME --brand BRAND --ad-library-url URL",
                  file=sys.stderr)
    return 0


def cmd_queue(args, settings) -> int:
    svc = _service(settings)
    params = parse_sets(args.set)
    run_id = svc.queue_one_time_job(args.brand, args.job_type, params, competitor=args.competitor,
                                    direct=args.direct)
    print(run_id, flush=True)
    if args.direct:
        status = svc.execute_direct(run_id, echo=lambda line: print(line, file=sys.stderr, flush=True))
        run = svc.run(run_id)
        if status != "succeeded":
            print(f"pipedeck: run {run_id} {status}"
                  + (f": {run['error_type']}: {run['error_message']}" if run["error_message"] else ""),
                  file=sys.stderr)
            return 1
        return 0
    if not svc.live_workers():
        print(f"pipedeck: warning: no worker is running; run {run_id} waits until you start `pipedeck worker`"
              " (or queue with --direct)", file=sys.stderr)
    return 0


def _run_rows(runs, now):
    rows = []
    for r in runs:
        end = r["finished_at"] or (now if r["started_at"] else None)
        took = durations.compact(end - r["started_at"]) if r["started_at"] and end else ""
        rows.append((r["id"], status_label(r['status']), r["job_type"], r["brand"],
                     r["competitor"] or "", f"{r['attempts']}/{r['max_attempts']}", durations.ago(r["created_at"], now), took,
                     r["log_summary"]))
    return rows


def cmd_runs(args, settings) -> int:
    svc = _service(settings)
    sub = args.runs_cmd
    if sub == "show":
        return _runs_show(svc, args)
    if sub == "retry":
        new_id = svc.retry(args.run_id, parse_sets(args.set) or None)
        print(new_id)
        return 0
    if sub == "cancel":
        status = svc.cancel(args.run_id)
        print(f"run {args.run_id} {status}")
        return 0
    statuses = [s.strip() for s in args.status.split(",")] if args.status else None
    runs = svc.list_runs(brand=args.brand, job_type=args.type, competitor=args.competitor, statuses=statuses,
                         text=args.search, limit=args.limit)
    if args.json:
        emit_json([run_json(r) for r in runs])
    elif runs:
        print(table(_run_rows(runs, time.time()),
                    ["ID", "STATUS", "TYPE", "BRAND", "COMPETITOR", "TRIES", "CREATED", "TOOK", "SUMMARY"]))
    else:
        print("no runs match", file=sys.stderr)
    return 0


def _print_log(line: dict) -> None:
    stamp = datetime.fromtimestamp(line["ts"]).strftime("%H:%M:%S")
    print(f"{stamp} {line['level']:<7} {line['message']}", flush=True)


def _runs_show(svc, args) -> int:
    detail = svc.run_detail(args.run_id, log_tail=None if args.json else 50)
    run = detail["run"]
    if args.json and not args.follow:
        out = run_json(run)
        out["attempt_history"] = [{**a, "started_at": iso(a["started_at"]), "finished_at": iso(a["finished_at"])}
                                  for a in detail["attempts"]]
        out["logs"] = [{"ts": iso(l["ts"]), "level": l["level"], "message": l["message"]} for l in detail["logs"]]
        emit_json(out)
        return 0
    print(f"run {run['id']}  {run['job_type']}  brand={run['brand']}"
          + (f"  competitor={run['competitor']}" if run["competitor"] else "")
          + f"  status={run['status']}  attempts={run['attempts']}/{run['max_attempts']}")
    print(f"params: {json.dumps(run['params'], sort_keys=True)}")
    if run["error_message"]:
        print(f"error: {run['error_type']}: {run['error_message']}")
    if run["result"]:
        print(f"result: {json.dumps(run['result'], sort_keys=True)}")
        if isinstance(run["result"], dict) and run["result"].get("warning"):
            print(f"warning: {run['result']['warning']}")
    for a in detail["attempts"]:
        took = durations.took(a["started_at"], a["finished_at"], time.time())
        print(f"  attempt {a['number']}: {a['status']} after {took}"
              + (f" - {a['error_type']}: {a['error_message']}" if a["error_message"] else ""))
    last_id = 0
    for line in detail["logs"]:
        _print_log(line)
        last_id = line["id"]
    if not args.follow:
        return 0
    while True:
        run = svc.run(args.run_id)
        for line in svc.run_logs(args.run_id, after_id=last_id):
            _print_log(line)
            last_id = line["id"]
        if run["status"] in ("succeeded", "failed", "cancelled"):
            print(f"run {run['id']} {run['status']}"
                  + (f": {run['error_type']}: {run['error_message']}" if run["error_message"] else ""))
            return 0 if run["status"] == "succeeded" else 1
        time.sleep(0.5)


def cmd_worker(args, settings) -> int:
    from pipedeck.queue.worker import WorkerDaemon, configure_logging

    configure_logging(settings, verbose=args.verbose)
    daemon = WorkerDaemon(settings, threads=args.threads, grace=args.grace,
                          echo=lambda line: print(line, flush=True))
    return daemon.run()


def cmd_status(args, settings) -> int:
    svc = _service(settings)
    depth = svc.queue_depth()
    workers = svc.worker_health()
    if args.json:
        emit_json({"queue": depth, "workers": [
            {"id": w["id"], "alive": w["alive"], "heartbeat_age": round(w["heartbeat_age"], 1), "pid": w["pid"],
             "host": w["host"], "threads": w["threads"], "started_at": iso(w["started_at"])} for w in workers]})
        return 0
    print("queue: " + ", ".join(f"{k} {v}" for k, v in depth.items()))
    if not workers:
        print("workers: none running (start one with `pipedeck worker`)")
    for w in workers:
        print(f"worker {w['id']}: {'alive' if w['alive'] else 'NOT RESPONDING'},"
              f" heartbeat {durations.compact(w['heartbeat_age'])} ago, {w['threads']} thread(s)")
    return 0


def cmd_job_types(args, settings) -> int:
    from pipedeck.handlers import registry

    registry.load_plugins(settings.plugins)
    types = registry.all_job_types()
    if args.json:
        emit_json([{"key": t.key, "emoji": t.emoji, "label": t.label, "scope": t.scope,
                    "datasets": list(t.datasets), "defaults": t.defaults(), "max_attempts": t.max_attempts,
                    "params_schema": t.params_model.model_json_schema()} for t in types])
        return 0
    print(table([(t.emoji, t.key, t.label, t.scope, ",".join(t.datasets),
                  " ".join(f"{k}={v}" for k, v in t.defaults().items() if v is not None)) for t in types],
                ["", "KEY", "LABEL", "SCOPE", "DATASETS", "DEFAULTS"]))
    return 0


def cmd_freshness(args, settings) -> int:
    svc = _service(settings)
    rows = svc.freshness(brand=args.brand)
    if args.json:
        emit_json([{k: (iso(v) if k.endswith("_at") else v) for k, v in r.items()} for r in rows])
        return 0
    if not rows:
        print("no brands yet", file=sys.stderr)
        return 0
    print(table([(r["brand"], r["competitor"] or "", r["dataset"], r["state"],
                  (r.get("completeness") or {}).get("text", ""), r["reason"]) for r in rows],
                ["BRAND", "COMPETITOR", "DATASET", "STATE", "COMPLETE", "WHY"]))
    return 0


def cmd_token(args, settings) -> int:
    from pipedeck.config import write_credentials

    if args.token_cmd == "set":
        token = sys.stdin.readline().strip() if not sys.stdin.isatty() else __import__("getpass").getpass("Meta access token: ")
        if not token:
            raise UsageError("no token given on standard input")
        path = write_credentials(settings.home, token)
        print(f"token stored in {path} (readable by you only)")
    else:
        source = "META_ACCESS_TOKEN" if os.environ.get("META_ACCESS_TOKEN") else (
            "credentials file" if settings.meta_access_token else None)
        print(f"token: set ({source})" if source else "token: not set (META_ACCESS_TOKEN or `pipedeck token set`)")
    return 0


def cmd_templates(args, settings) -> int:
    svc = _service(settings)
    if args.templates_cmd in ("approve", "reject"):
        known = {t["id"] for t in svc.templates(status=None, limit=None)}
        unknown = [i for i in args.ids if i not in known]
        if unknown:
            raise UsageError(f"no template with id {', '.join(map(str, unknown))}; nothing was changed"
                             " (see `pipedeck templates list --status all`)")
        status = "approved" if args.templates_cmd == "approve" else "rejected"
        changed = svc.review_templates(args.ids, status)
        print(f"{status} {changed} template(s)" + (f"; {len(args.ids) - changed} already {status}"
                                                   if changed < len(args.ids) else ""))
        return 0
    status = None if args.status == "all" else args.status
    rows = svc.templates(brand=args.brand, status=status, limit=args.limit)
    paths = {sha: str(path) for sha, path in svc.asset_paths([r["preview_sha256"] for r in rows]).items()}
    if args.json:
        emit_json([{"id": r["id"], "brand": r["brand"], "status": r["status"], "ad_archive_id": r["ad_archive_id"],
                    "page_name": r["page_name"], "display_format": r["display_format"], "title": r["title"],
                    "body": r["body"], "cta_text": r["cta_text"], "link_url": r["link_url"],
                    "image_url": r["image_url"], "preview_path": paths.get(r["preview_sha256"]),
                    "first_seen_at": iso(r["first_seen_at"]), "last_seen_at": iso(r["last_seen_at"]),
                    "reviewed_at": iso(r["reviewed_at"])} for r in rows])
    elif rows:
        print(table([(r["id"], r["status"], r["brand"], r["page_name"] or "", r["display_format"] or "",
                      r["cta_text"] or "", " ".join((r["body"] or r["title"] or "").split())[:60],
                      "yes" if r["preview_sha256"] else "-") for r in rows],
                    ["ID", "STATUS", "BRAND", "PAGE", "FORMAT", "CTA", "TEXT", "PREVIEW"]))
    else:
        what = f"{status} templates" if status else "templates"
        print(f"no {what} (queue template_scrape to fill the review queue)", file=sys.stderr)
    return 0


def cmd_tui(args, settings) -> int:
    from pipedeck.tui.app import run_tui

    return run_tui(settings)


def cmd_demo(args, settings) -> int:
    from pipedeck.demo import run_demo

    return run_demo(args)


def cmd_sandbox(args, settings) -> int:
    from pipedeck.sandbox.server import main as sandbox_main

    return sandbox_main(args)


def _sandbox_epilog() -> str:
    """What each sandbox half documents in its module-level HELP (data, sizes, variants, faults)."""
    import importlib

    parts = []
    for name in ("pipedeck.sandbox.graph", "pipedeck.sandbox.adlibrary"):
        try:
            parts.append(getattr(importlib.import_module(name), "HELP", ""))
        except Exception:  # noqa: BLE001 - help text must never break the CLI
            continue
    return "\n\n".join(p for p in parts if p)


def build_parser() -> Parser:
    p = Parser(prog="pipedeck", description="Control plane for Meta ad data pipelines.")
    p.add_argument("--version", action="version", version=f"pipedeck {__version__}")
    sub = p.add_subparsers(dest="cmd", parser_class=Parser, metavar="COMMAND")

    w = sub.add_parser("worker", help="run the queue worker (huey consumer) in the foreground")
    w.add_argument("-w", "--threads", type=int, default=2, help="jobs run at once (default 2)")
    w.add_argument("--grace", type=float, default=10.0, help="seconds to let running jobs finish on stop")
    w.add_argument("-v", "--verbose", action="store_true")
    w.set_defaults(func=cmd_worker)

    d = sub.add_parser("demo", help="open the app on demo data with the sandbox and a worker running")
    d.add_argument("--home", help="demo data dir (default: <data dir>-demo)")
    d.add_argument("--reset", action="store_true", help="start from fresh demo data")
    d.add_argument("--no-tui", action="store_true", help="seed and serve, but do not open the app")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser("sandbox", help="serve the local Meta Graph API and Ad Library stand-in",
                       epilog=_sandbox_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--fault", action="append", default=[], metavar="NAME[=VALUE]",
                   help="switch a fault on (see the sandbox module for names)")
    s.set_defaults(func=cmd_sandbox)

    b = sub.add_parser("brands", help="list, add or edit brands")
    b.set_defaults(func=cmd_brands, brands_cmd="list", json=False)
    bsub = b.add_subparsers(dest="brands_cmd", parser_class=Parser, metavar="ACTION")
    ba = bsub.add_parser("add")
    ba.add_argument("name")
    ba.add_argument("--meta-ad-account", dest="meta_ad_account")
    ba.add_argument("--ad-library-page-id")
    be = bsub.add_parser("edit")
    be.add_argument("name")
    be.add_argument("--name", dest="rename")
    be.add_argument("--meta-ad-account", dest="meta_ad_account")
    be.add_argument("--ad-library-page-id")
    bl = bsub.add_parser("list")
    bl.add_argument("--json", action="store_true")
    b.add_argument("--json", action="store_true")

    c = sub.add_parser("competitors", help="list, add or edit competitors")
    c.set_defaults(func=cmd_competitors, competitors_cmd="list", json=False, brand=None)
    c.add_argument("--brand")
    c.add_argument("--json", action="store_true")
    csub = c.add_subparsers(dest="competitors_cmd", parser_class=Parser, metavar="ACTION")
    ca = csub.add_parser("add")
    ca.add_argument("name")
    ca.add_argument("--brand", required=True)
    ca.add_argument("--ad-library-url", required=True)
    ce = csub.add_parser("edit")
    ce.add_argument("name")
    ce.add_argument("--brand")
    ce.add_argument("--name", dest="rename")
    ce.add_argument("--ad-library-url")
    cl = csub.add_parser("list")
    cl.add_argument("--brand")
    cl.add_argument("--json", action="store_true")

    q = sub.add_parser("queue", help="queue a job (prints the new run id)")
    q.add_argument("job_type")
    q.add_argument("--brand", required=True)
    q.add_argument("--competitor")
    q.add_argument("--set", action="append", metavar="KEY=VALUE", help="a job parameter (repeatable)")
    q.add_argument("--direct", action="store_true", help="run here and now instead of on a worker (legacy mode)")
    q.set_defaults(func=cmd_queue)

    r = sub.add_parser("runs", help="list runs, or show/retry/cancel one")
    r.set_defaults(func=cmd_runs, runs_cmd=None)
    r.add_argument("--brand")
    r.add_argument("--type")
    r.add_argument("--competitor")
    r.add_argument("--status", help="comma-separated statuses")
    r.add_argument("--search", help="free text over type, brand, competitor, summary and error")
    r.add_argument("--limit", type=int, default=50)
    r.add_argument("--json", action="store_true")
    rsub = r.add_subparsers(dest="runs_cmd", parser_class=Parser, metavar="ACTION")
    rs = rsub.add_parser("show")
    rs.add_argument("run_id", type=int)
    rs.add_argument("--follow", "-f", action="store_true")
    rs.add_argument("--json", action="store_true")
    rr = rsub.add_parser("retry")
    rr.add_argument("run_id", type=int)
    rr.add_argument("--set", action="append", metavar="KEY=VALUE", help="change a parameter for the retry")
    rc = rsub.add_parser("cancel")
    rc.add_argument("run_id", type=int)

    st = sub.add_parser("status", help="worker health and queue depth")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    jt = sub.add_parser("job-types", help="the job-type registry")
    jt.add_argument("--json", action="store_true")
    jt.set_defaults(func=cmd_job_types)

    f = sub.add_parser("freshness", help="when each dataset last refreshed, and whether that is stale")
    f.add_argument("--brand")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_freshness)
    from pipedeck.cli_schedules import add_policy_commands

    add_policy_commands(f)

    t = sub.add_parser("token", help="store the Meta access token owner-only (`token set` reads stdin)")
    t.set_defaults(func=cmd_token, token_cmd="status")
    tsub = t.add_subparsers(dest="token_cmd", parser_class=Parser, metavar="ACTION")
    tsub.add_parser("set")
    tsub.add_parser("status")

    tp = sub.add_parser("templates", help="the template review queue: list, approve, reject")
    tp.set_defaults(func=cmd_templates, templates_cmd="list", brand=None, status="pending", json=False, limit=500)
    tpsub = tp.add_subparsers(dest="templates_cmd", parser_class=Parser, metavar="ACTION")
    tl = tpsub.add_parser("list", help="templates (default: pending ones)")
    for target in (tp, tl):
        target.add_argument("--brand")
        target.add_argument("--status", choices=("pending", "approved", "rejected", "all"), default="pending")
        target.add_argument("--limit", type=int, default=500)
        target.add_argument("--json", action="store_true")
    for action in ("approve", "reject"):
        ta = tpsub.add_parser(action, help=f"{action} templates by id")
        ta.add_argument("ids", type=int, nargs="+", metavar="ID")

    from pipedeck.cli_schedules import add_schedule_commands

    add_schedule_commands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from pipedeck.config import load_settings

    parser = build_parser()
    settings = None
    try:
        args = parser.parse_args(argv)
        settings = load_settings()
        func = getattr(args, "func", None) or cmd_tui
        return func(args, settings) or 0
    except UserError as exc:
        print(f"pipedeck: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.DatabaseError as exc:  # raised only once settings are loaded
        from pipedeck.storage.db import describe_db_error

        path = settings.db_path if settings is not None else "pipedeck.db"
        print(f"pipedeck: {describe_db_error(path, exc)}", file=sys.stderr)
        return StorageError.exit_code
    except KeyboardInterrupt:
        print("pipedeck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
