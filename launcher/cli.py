"""The `ipss` command: run the suite, mint development tokens, migrate, seed data."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from suite import auth, config


def _up(args) -> int:
    from launcher import up

    return asyncio.run(up.up(demo=args.demo))


def _token(args) -> int:
    try:
        print(auth.mint(args.role, args.sub or f"dev-{args.role}", region=args.region,
                        association_id=args.association, ttl_seconds=int(args.ttl_minutes * 60)))
    except ValueError as refused:
        print(f"ipss token: {refused}", file=sys.stderr)
        return 2
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


def _joint_punishments(args) -> int:
    """`ipss joint-punishments key` prints the registry's public key for partner departments;
    `verify` checks an exported list against its signature with the key they were given."""
    from suite import signing

    if args.joint_punishments == "key":
        signer = signing.Signer(config.registry_signing_key())
        print(f"{signing.encode(signer.public_key)}  key_id {signer.key_id}")
        return 0
    try:
        content = Path(args.file).read_bytes()
        signature = signing.decode(Path(args.signature).read_text() if Path(args.signature).is_file()
                                   else args.signature)
        public_key = signing.decode(args.public_key)
    except (OSError, ValueError) as error:
        print(f"ipss joint-punishments verify: {error}", file=sys.stderr)
        return 2
    if signing.verify(content, signature, public_key):
        print(f"VALID: {args.file} is signed by key {signing.key_id(public_key)}")
        return 0
    print(f"NOT VALID: {args.file} is not what key {signing.key_id(public_key)} signed")
    return 1


def _calendar(args) -> int:
    from rules.workdays import CalendarError, WorkingDayCalendar

    try:
        calendar = WorkingDayCalendar.load()
        if args.calendar == "add":
            answer = calendar.add_working_days(args.start, args.n)
        else:
            answer = calendar.calendar_deadline(args.start, args.n)
    except (CalendarError, ValueError) as error:
        print(f"ipss calendar: {error}", file=sys.stderr)
        return 2
    print(answer.isoformat())
    provisional = [year for year in range(min(args.start, answer).year, max(args.start, answer).year + 1)
                   if calendar.is_provisional(year)]
    if provisional:
        years = "、".join(f"{year}年" for year in provisional)
        print(f"ipss calendar: 暂定 (provisional): {years}放假安排尚未发布，按法定节假日计算；"
              f"发布后用 ipss calendar import 载入", file=sys.stderr)
    return 0


def _calendar_import(args) -> int:
    """Read the State Council's holiday notice, say what was read and checked, write the year's file."""
    from rules.notice import NoticeError, read_notice, write_calendar_file
    from rules.workdays import CALENDAR_DIR, CALENDAR_DIR_ENV, CalendarError

    try:
        reading = read_notice(args.file.read_text(encoding="utf-8-sig"))
    except NoticeError as error:
        print(f"ipss calendar import: 第{error.line_number}行: {error.line}: {error.reason}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"ipss calendar import: {args.file}: {error}", file=sys.stderr)
        return 2
    print(reading.source)
    for item in reading.items:
        print(item.summary())
    for check in reading.checks:
        print(f"核对通过：{check}")
    if reading.other_years_days:
        print(f"{reading.year}年以外的日期不写入{reading.year}.yaml（归其所属年份）：{reading.other_years_summary}")
    if args.dry_run:
        print("--dry-run：未写入文件")
        return 0
    directory = args.dir or Path(os.environ.get(CALENDAR_DIR_ENV) or CALENDAR_DIR)
    try:
        written = write_calendar_file(reading, directory, replace=args.replace)
    except (OSError, CalendarError) as error:
        print(f"ipss calendar import: {error}", file=sys.stderr)
        return 2
    print(f"已写入 {written}（原文 {written.with_suffix('.notice.txt')}）")
    return 0


def _draw(args) -> int:
    from services.inspections import draw_check

    return draw_check.run(args.record, args.address)


def _audit(args) -> int:
    from suite import audit, signing

    if args.audit == "key":
        print(signing.encode(audit.public_key()))
        print(f"key id {signing.key_id(audit.public_key())}")
        return 0
    if args.audit == "published":
        import json

        url = args.database_url or config.database_url(args.service)
        print(json.dumps(audit.published(url), ensure_ascii=False, indent=1))
        return 0
    key = signing.decode(args.public_key) if args.public_key else None
    failed = False
    services = [args.service] if args.service else ["registry", "complaints", "inspections"]
    for service in services:
        url = args.database_url or config.database_url(service)
        report = audit.verify(url, key=key)
        if report.ok:
            print(f"{service}: OK, {report.entries} entries, {report.checkpoints} checkpoints, "
                  f"signed through entry {report.signed_through}")
        else:
            failed = True
            print(f"{service}: TAMPERED: {report.problem}")
    return 1 if failed else 0


def _certs(args) -> int:
    from services.linkage import enrolment
    from suite import tls

    if args.revoke:
        print(f"revoked {args.revoke}: {asyncio.run(enrolment.revoke_certificate(args.revoke, args.registry))}")
        return 0
    for association_id, path in asyncio.run(enrolment.issue_certificates(args.association, args.days,
                                                                        args.registry)):
        print(f"{association_id}: {path} (key {path.with_suffix('.key')})")
    print(f"CA: {tls.authority_pair().certificate}")
    return 0


def _association_watch(args) -> int:
    from launcher import association
    from suite import tls

    if not (args.cert or args.association):
        print("ipss association watch: name the certificate (--cert) or the association (--association)",
              file=sys.stderr)
        return 2
    client = (tls.KeyPair(args.cert, args.key or args.cert.with_suffix(".key")) if args.cert
              else tls.association_pair(args.association))
    state = args.state or config.var_dir() / "association-watch" / f"{client.certificate.stem}.position"
    spec = association.Watch(address=args.address or f"127.0.0.1:{config.listen_port('linkage')}",
                             authority=args.ca or tls.authority_pair().certificate, client=client, state=state,
                             after=args.from_position, idle_exit_seconds=args.idle_exit)
    try:
        return asyncio.run(association.watch(spec))
    except KeyboardInterrupt:
        return 0


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

    token = commands.add_parser("token", help="mint a development bearer token (the development sign-in key's, "
                                              "for a person's role)")
    token.add_argument("--role", required=True, choices=sorted(auth.PEOPLE))
    token.add_argument("--region", default=auth.NATIONWIDE, help="GB/T 2260 scope, e.g. 110000")
    token.add_argument("--sub", default="", help="subject (user id)")
    token.add_argument("--association", default="", help="association id, for the association role")
    token.add_argument("--ttl-minutes", type=float, default=config.human_token_minutes(),
                       help="how long it lives (IPSS_HUMAN_TOKEN_MINUTES, 15 by default)")
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
    notice = counts.add_parser("import", help="read the State Council's holiday notice (节假日安排的通知, UTF-8 "
                                              "text as published) and write the year's schedule file")
    notice.add_argument("file", type=Path, help="the notice as a UTF-8 text file")
    notice.add_argument("--dir", type=Path, help="where to write <year>.yaml (default $IPSS_CALENDAR_DIR "
                                                "if set, else rules/calendar/)")
    notice.add_argument("--replace", action="store_true", help="overwrite a different file for the year")
    notice.add_argument("--dry-run", action="store_true", help="read and check only, write nothing")
    notice.set_defaults(run=_calendar_import)

    draw = commands.add_parser("draw", help="double-random draws (双随机抽取)")
    draws = draw.add_subparsers(dest="draw", required=True)
    verify = draws.add_parser("verify", help="recompute a published draw record from its public data, check that "
                                             "the draw kept its plan's earlier commitment (seed source, snapshot, "
                                             "pool, made before the draw), and say whether it matches (exit 0 if "
                                             "it does, 1 if not)")
    verify.add_argument("record", help="an exported record file, or a plan id to fetch its record")
    verify.add_argument("--address", help="the inspections service to fetch from (default $IPSS_INSPECTIONS_ADDR)")
    verify.set_defaults(run=_draw)

    audit_log = commands.add_parser("audit", help="the services' hash-chained audit logs (审计日志)")
    audit_commands = audit_log.add_subparsers(dest="audit", required=True)
    audit_commands.add_parser("key", help="print the audit key's public half (base64) and its key id"
                              ).set_defaults(run=_audit)
    audit_verify = audit_commands.add_parser("verify", help="walk each audit chain and its signed checkpoints; "
                                                            "OK, or the first entry changed, removed, inserted or "
                                                            "moved (exit 1)")
    audit_verify.add_argument("--service", choices=["registry", "complaints", "inspections"],
                              help="one service (default: all three)")
    audit_verify.add_argument("--database-url", help="the service's database (default its IPSS_<SERVICE>_DATABASE_URL)")
    audit_verify.add_argument("--public-key", help="the office's audit public key (base64); default the local key")
    audit_verify.set_defaults(run=_audit)
    audit_published = audit_commands.add_parser("published", help="the published penalties' and draw records' "
                                                                  "entries and the signed checkpoints, as JSON for "
                                                                  "the public")
    audit_published.add_argument("--service", choices=["complaints", "inspections"], required=True)
    audit_published.add_argument("--database-url", help="the service's database (default its "
                                                        "IPSS_<SERVICE>_DATABASE_URL)")
    audit_published.set_defaults(run=_audit)

    punishments = commands.add_parser("joint-punishments", help="the signed joint-punishment lists (联合惩戒名单) "
                                                                "given to partner departments")
    punishment_commands = punishments.add_subparsers(dest="joint_punishments", required=True)
    punishment_commands.add_parser("key", help="print the registry's public key (base64) and its key id"
                                   ).set_defaults(run=_joint_punishments)
    check = punishment_commands.add_parser("verify", help="check an exported list against its signature "
                                                          "(exit 0 if it verifies, 1 if not)")
    check.add_argument("file", help="the exported list (CSV or JSON) exactly as received")
    check.add_argument("--signature", required=True, help="the signature (base64), or a file holding it")
    check.add_argument("--public-key", required=True, help="the registry's public key (base64), as the office gave it")
    check.set_defaults(run=_joint_punishments)

    certs = commands.add_parser("certs", help="make the linkage endpoint's development CA and server certificate, "
                                              "and register a client certificate for each association")
    certs.add_argument("--association", action="append", default=[],
                       help="only this association (repeatable); every association in the registry by default")
    certs.add_argument("--days", type=int, default=365, help="validity of a new client certificate")
    certs.add_argument("--revoke", metavar="ASSOCIATION", help="revoke the association's certificate instead")
    certs.add_argument("--registry", help="the registry's address (default $IPSS_REGISTRY_ADDR)")
    certs.set_defaults(run=_certs)

    association = commands.add_parser("association", help="an industry association's client of the linkage "
                                                          "endpoint (mutual TLS)")
    association_commands = association.add_subparsers(dest="association_command", required=True)
    watch = association_commands.add_parser("watch", help="print the member events feed as JSON lines, resuming "
                                                          "after the last position printed")
    watch.add_argument("--cert", type=Path, help="the association's client certificate (PEM)")
    watch.add_argument("--key", type=Path, help="its private key (default: the certificate's name with .key)")
    watch.add_argument("--association", help="use var/certs/associations/<ID>.pem instead of --cert")
    watch.add_argument("--ca", type=Path, help="the CA that signed the endpoint's certificate")
    watch.add_argument("--address", help="host:port of the linkage endpoint (default 127.0.0.1:50054)")
    watch.add_argument("--from", dest="from_position", type=int,
                       help="the last position seen: print every event after it (default: the state file's, "
                            "else the position last acknowledged)")
    watch.add_argument("--state", type=Path, help="where the last position printed is kept")
    watch.add_argument("--idle-exit", type=float, default=0.0, metavar="SECONDS",
                       help="exit when no event came for this long (default: watch until interrupted)")
    watch.set_defaults(run=_association_watch)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
