"""`pipedeck schedules ...` and `pipedeck freshness policy ...`."""

from __future__ import annotations

import sys

from pipedeck.concepts.durations import parse as parse_span, words
from pipedeck import cli_support as cli
from pipedeck.errors import UserError

def _schedule_rows(rows, now):
    out = []
    for r in rows:
        nxt = cli.iso(r["next_run_at"]) if r["next_run_at"] else "-"
        last = f"#{r['last_run_id']} {r['last_run_status']}" if r["last_run_id"] else "-"
        out.append((r["id"], "active" if r["active"] else "paused", r["job_type"], r["brand"], r["competitor"] or "",
                    f"{r['cron']} ({r['tz']})", r["explain"], nxt, r["missed_policy"], last))
    return out


def schedule_json(r: dict) -> dict:
    return {"id": r["id"], "job_type": r["job_type"], "brand": r["brand"], "competitor": r["competitor"],
            "params": r["params"], "cron": r["cron"], "tz": r["tz"], "explain": r.get("explain"),
            "active": bool(r["active"]), "missed_policy": r["missed_policy"],
            "next_run_at": cli.iso(r["next_run_at"]), "last_run_id": r["last_run_id"],
            "last_run_status": r["last_run_status"], "last_fired_at": cli.iso(r["last_fired_at"])}


def cmd_schedules(args, settings) -> int:
    svc = cli.service(settings)
    sub = args.schedules_cmd
    if sub == "add":
        row = svc.add_schedule(args.job_type, args.brand, cron=args.cron, tz=args.tz, competitor=args.competitor,
                               params=cli.parse_sets(args.set), missed_policy=args.missed, active=not args.paused)
        print(row["id"])
        print(f"{row['explain']} ({row['tz']}); next {cli.iso(row['next_run_at']) or 'paused'}", file=sys.stderr)
        return 0
    if sub == "pause":
        svc.pause_schedule(args.schedule_id)
        print(f"schedule {args.schedule_id} paused")
        return 0
    if sub == "resume":
        row = svc.resume_schedule(args.schedule_id)
        print(f"schedule {args.schedule_id} resumed; next {cli.iso(row['next_run_at'])}")
        return 0
    if sub == "remove":
        svc.remove_schedule(args.schedule_id)
        print(f"schedule {args.schedule_id} removed")
        return 0
    if sub == "edit":
        if args.cron is None and args.tz is None and not args.set and args.missed is None:
            raise cli.UsageError("nothing to change: pass --cron, --tz, --set or --missed")
        params = cli.parse_sets(args.set) if args.set else None
        row = svc.edit_schedule(args.schedule_id, cron=args.cron, tz=args.tz, params=params,
                                missed_policy=args.missed)
        print(f"schedule {row['id']}: {row['explain']} ({row['tz']}); next {cli.iso(row['next_run_at']) or 'paused'}")
        return 0
    if sub == "history":
        events = svc.schedule_history(args.schedule_id, args.limit)
        if args.json:
            cli.emit_json([{**e, "occurrence_at": cli.iso(e["occurrence_at"]), "ts": cli.iso(e["ts"])} for e in events])
        else:
            print(cli.table([(cli.iso(e["occurrence_at"]), e["action"], e["run_id"] or "", e["reason"] or "")
                             for e in events], ["OCCURRENCE", "ACTION", "RUN", "WHY"]))
        return 0
    rows = svc.schedules(brand=args.brand, competitor=args.competitor)
    if args.json:
        cli.emit_json([schedule_json(r) for r in rows])
    elif rows:
        print(cli.table(_schedule_rows(rows, None), ["ID", "STATE", "TYPE", "BRAND", "COMPETITOR", "CRON", "WHEN",
                                                      "NEXT", "MISSED", "LAST RUN"]))
    else:
        print("no schedules: pipedeck schedules add JOB_TYPE --brand NAME --cron '0 7 * * *'", file=sys.stderr)
    return 0


def cmd_freshness_policy(args, settings) -> int:
    svc = cli.service(settings)
    if args.policy_cmd == "set":
        svc.set_freshness_policy(args.dataset, parse_span(args.warn), parse_span(args.stale), brand=args.brand)
        print(f"policy for {args.dataset}{' of ' + args.brand if args.brand else ''}: "
              f"warn after {args.warn}, stale after {args.stale}")
        return 0
    if args.policy_cmd == "clear":
        if not svc.clear_freshness_policy(args.dataset, brand=args.brand):
            raise UserError(f"no stored policy for {args.dataset}{' of brand ' + args.brand if args.brand else ''}")
        print(f"policy for {args.dataset} cleared")
        return 0
    rows = svc.freshness_policies()

    if args.json:
        cli.emit_json(rows)
    else:
        print(cli.table([(r["brand"] or "(all)", r["dataset"], words(r["warn_after"]), words(r["stale_after"]),
                          r["source"]) for r in rows], ["BRAND", "DATASET", "WARN AFTER", "STALE AFTER", "SOURCE"]))
    return 0


def add_schedule_commands(sub) -> None:

    s = sub.add_parser("schedules", help="recurring jobs: list, add, pause, resume, edit, remove, history")
    s.set_defaults(func=cmd_schedules, schedules_cmd=None)
    s.add_argument("--brand")
    s.add_argument("--competitor")
    s.add_argument("--json", action="store_true")
    ssub = s.add_subparsers(dest="schedules_cmd", parser_class=cli.Parser, metavar="ACTION")
    a = ssub.add_parser("add", help="schedule a job: --cron '0 7 * * *' [--tz Europe/Berlin]")
    a.add_argument("job_type")
    a.add_argument("--brand", required=True)
    a.add_argument("--competitor")
    a.add_argument("--cron", required=True, help="five-field cron expression, e.g. '0 7 * * 1-5'")
    a.add_argument("--tz", default="UTC", help="IANA time zone of the cron expression (default UTC)")
    a.add_argument("--set", action="append", metavar="KEY=VALUE")
    a.add_argument("--missed", default="skip", help="after an outage: skip (default) or run_once")
    a.add_argument("--paused", action="store_true", help="save it paused")
    for verb in ("pause", "resume", "remove"):
        p = ssub.add_parser(verb)
        p.add_argument("schedule_id", type=int)
    e = ssub.add_parser("edit")
    e.add_argument("schedule_id", type=int)
    e.add_argument("--cron")
    e.add_argument("--tz")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="KEY=null removes a param")
    e.add_argument("--missed")
    h = ssub.add_parser("history")
    h.add_argument("schedule_id", type=int)
    h.add_argument("--limit", type=int, default=50)
    h.add_argument("--json", action="store_true")
    ls = ssub.add_parser("list")
    ls.add_argument("--brand")
    ls.add_argument("--competitor")
    ls.add_argument("--json", action="store_true")


def add_policy_commands(freshness_parser) -> None:

    fsub = freshness_parser.add_subparsers(dest="freshness_cmd", parser_class=cli.Parser, metavar="ACTION")
    pol = fsub.add_parser("policy", help="when datasets turn warning/stale: list, set, clear")
    pol.set_defaults(func=cmd_freshness_policy, policy_cmd="list")
    pol.add_argument("--json", action="store_true")
    psub = pol.add_subparsers(dest="policy_cmd", parser_class=cli.Parser, metavar="ACTION")
    ps = psub.add_parser("set")
    ps.add_argument("dataset")
    ps.add_argument("--warn", required=True, help="e.g. 26h")
    ps.add_argument("--stale", required=True, help="e.g. 50h")
    ps.add_argument("--brand", help="override for one brand (default: for all brands)")
    pc = psub.add_parser("clear")
    pc.add_argument("dataset")
    pc.add_argument("--brand")
    psub.add_parser("list")
