"""The `ipss` command: run the suite, mint development tokens, migrate, seed data."""

from __future__ import annotations

import argparse
import asyncio
import sys

from suite import auth, config


def _up(args) -> int:
    from suite import launcher

    return asyncio.run(launcher.up(demo=args.demo))


def _token(args) -> int:
    print(auth.mint(args.role, args.sub or f"dev-{args.role}", region=args.region,
                    association_id=args.association, ttl_seconds=int(args.ttl_hours * 3600)))
    return 0


def _migrate(args) -> int:
    from suite import migrate

    for service in config.SERVICES if args.service == "all" else (args.service,):
        moved = migrate.downgrade(service, args.down) if args.down else migrate.upgrade(service)
        target = f"down to {args.down}" if args.down else "to head"
        print(f"{service}: {'migrated ' + target if moved else 'has no tables yet'}")
    return 0


def _seed(args) -> int:
    from services.registry import seed
    from suite import migrate

    url = config.database_url("registry")
    migrate.upgrade("registry")
    print(seed.seed(url, args.agencies, args.practitioners, rng_seed=args.seed))
    return 0


def _calendar(args) -> int:
    from rules.workdays import CalendarError, WorkingDayCalendar

    try:
        calendar = WorkingDayCalendar.load()
        if args.calendar == "add":
            print(calendar.add_working_days(args.start, args.n).isoformat())
        else:
            print(calendar.calendar_deadline(args.start, args.n).isoformat())
    except (CalendarError, ValueError) as error:
        print(f"ipss calendar: {error}", file=sys.stderr)
        return 2
    return 0


def _draw(args) -> int:
    from services.inspections import verification

    return verification.run(args.record, args.address)


def _iso_date(text: str):
    from datetime import datetime

    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ipss", description="Supervision suite for the IP service industry")
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start Temporal, the services and the worker; Ctrl-C stops them")
    up.add_argument("--demo", action="store_true", help="load a realistic demo registry first")
    up.set_defaults(run=_up)

    token = commands.add_parser("token", help="mint a development bearer token")
    token.add_argument("--role", required=True, choices=auth.ROLES)
    token.add_argument("--region", default=auth.NATIONWIDE, help="GB/T 2260 scope, e.g. 110000")
    token.add_argument("--sub", default="", help="subject (user id)")
    token.add_argument("--association", default="", help="association id, for the association role")
    token.add_argument("--ttl-hours", type=float, default=8)
    token.set_defaults(run=_token)

    migrate = commands.add_parser("migrate", help="run a service's Alembic migrations")
    migrate.add_argument("service", choices=(*config.SERVICES, "all"))
    migrate.add_argument("--down", metavar="REVISION", help="downgrade to REVISION (e.g. base)")
    migrate.set_defaults(run=_migrate)

    seed = commands.add_parser("seed", help="bulk-load realistic, valid registry data")
    seed.add_argument("--agencies", type=int, required=True)
    seed.add_argument("--practitioners", type=int, required=True)
    seed.add_argument("--seed", type=int, default=2026, help="random seed: the same seed gives the same data")
    seed.set_defaults(run=_seed)

    calendar = commands.add_parser("calendar", help="working-day arithmetic on the official calendar (工作日)")
    counts = calendar.add_subparsers(dest="calendar", required=True)
    add = counts.add_parser("add", help="the N-th working day after START (START not counted); "
                                        "negative N counts back")
    deadline = counts.add_parser("deadline", help="START + N calendar days, moved to the next working day "
                                                  "if it is a rest day")
    for command in (add, deadline):
        command.add_argument("start", type=_iso_date, help="YYYY-MM-DD")
        command.add_argument("n", type=int)
        command.set_defaults(run=_calendar)

    draw = commands.add_parser("draw", help="double-random draws (双随机抽取)")
    draws = draw.add_subparsers(dest="draw", required=True)
    verify = draws.add_parser("verify", help="recompute a published draw record from its public data and say "
                                             "whether it matches (exit 0 if it does, 1 if not)")
    verify.add_argument("record", help="an exported record file, or a plan id to fetch its record")
    verify.add_argument("--address", help="the inspections service to fetch from (default $IPSS_INSPECTIONS_ADDR)")
    verify.set_defaults(run=_draw)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
