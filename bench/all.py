"""Every benchmark once, and what it measured in one table: `make bench`.

    python -m bench.all [--only NAME,NAME] [--quick]

Each benchmark runs as its own process (`python -m bench.X ...`, at the sizes the README lists),
one after another, its output streamed to var/bench/<UTC time>/<name>.log; its figures are its
last line that is a JSON object. A benchmark that fails is recorded with its exit code and the run
goes on. bench.intake measures a running suite: it gets an `ipss up` of its own, on free ports
and a fresh var directory, stopped (SIGINT) when it is done. Every benchmark's processes serve
their metrics on free ports, so that a developer's `make run` keeps its own.

Then bench/RESULTS.md is written: the date, the commit and the machine, a table (each benchmark's
headline figures, their ratio to the floor or ceiling it measured in the same run, its target and
whether it was met), and each benchmark's full JSON. The same table replaces the one in README.md
between its two marker comments. `--only` runs some of them (a name, e.g. `registry_lookup`, or
one row's, e.g. `registry_lookup.postgresql`); `--quick` runs small sizes, for trying the runner
out, and the results say so."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import TOKEN_KEY_VARIABLES, free_port
from suite import config

ROOT = config.REPO_ROOT
RESULTS, README = ROOT / "bench" / "RESULTS.md", ROOT / "README.md"
START, END = "<!-- bench-results:start -->", "<!-- bench-results:end -->"
TIMEOUT_SECONDS = 3 * 3600  # per benchmark; a hung one is stopped and recorded as failed


@dataclass(frozen=True)
class Spec:
    name: str  # the row's name: the module, or module.variant
    argv: list[str]  # after `python -m bench.<module>`, at the README's sizes
    quick: list[str]  # small sizes for --quick
    headline: Callable[[dict], str]  # from the benchmark's JSON
    ratio: Callable[[dict], str] = lambda r: ""  # to the floor or ceiling it measured in the same run
    checks: tuple[tuple[str, Callable[[dict], bool]], ...] = ()  # its targets; none: figures only
    suite: bool = False  # measures a running `ipss up`

    @property
    def module(self) -> str:
        return self.name.split(".")[0]

    @property
    def target(self) -> str:
        return "; ".join(label for label, _ in self.checks)


def registry_lookup(db: str) -> Spec:
    return Spec(
        f"registry_lookup.{db}", ["--agencies", "100000", "--practitioners", "1000000", "--db", db],
        quick=["--agencies", "2000", "--practitioners", "20000", "--db", db, "--seconds", "5", "--warmup", "2"],
        headline=lambda r: f"p99 {r['p99_ms']} ms, p50 {r['p50_ms']} ms at {r['qps']} req/s, {r['errors']} errors",
        ratio=lambda r: f"p99 {r['p99_ratio_to_floor']}× the floor's {r['floor_p99_ms']} ms; server CPU "
                        f"{r['server_cpu_ms_per_request']} ms a request, the floor's "
                        f"{r['floor_server_cpu_ms_per_request']} ms",
        checks=(("p99 ≤ 3× floor", lambda r: r["p99_ratio_to_floor"] <= 3), ("0 errors", lambda r: r["errors"] == 0)))


def annual(db: str) -> Spec:
    return Spec(
        f"annual.{db}", ["--agencies", "100000", "--db", db], quick=["--agencies", "5000", "--db", db],
        headline=lambda r: f"{r['listed']} of {r['agencies']} agencies listed on {r['listed_on']} in {r['seconds']} s; "
                           f"history {r['max_history_events']} events",
        ratio=lambda r: f"{r['ratio']}× the {r['bare_insert_seconds']} s of one bulk insert of the same events",
        checks=(("≤ 3× the bulk insert", lambda r: r["ratio"] <= 3),
                ("no history over 10,000 events", lambda r: r["max_history_events"] <= 10_000)))


def audit(db: str) -> Spec:
    return Spec(
        f"audit.{db}", ["--entries", "1000000", "--db", db], quick=["--entries", "20000", "--db", db],
        headline=lambda r: f"{r['entries']} chained entries appended at {r['append_per_s']}/s, verified in "
                           f"{r['verify_s']} s",
        ratio=lambda r: f"{r['ratio']}× the {r['plain_insert_per_s']}/s of the same rows inserted plainly",
        checks=(("≥ 0.7× plain insert", lambda r: r["ratio"] >= 0.7),))


def suite_cpu(r: dict) -> float:
    return round(r["worker_cpu_ms_per_case"] + r["complaints_cpu_ms_per_case"] + r["registry_cpu_ms_per_case"], 2)


SPECS = [
    registry_lookup("sqlite"),
    registry_lookup("postgresql"),
    Spec("grpc_floor", [], quick=["--runs", "1", "--seconds", "3", "--warmup", "1"],
         headline=lambda r: f"health check p99 {r['median_p99_ms']} ms (median of {len(r['runs'])} runs, largest "
                            f"{r['max_p99_ms']} ms), {r['errors']} errors",
         ratio=lambda r: "(it is the floor)"),
    Spec("case_timeskip", [], quick=["--cases", "1"],
         headline=lambda r: f"{r['cases']} whole cases of {r['legal_days']} legal days: wall p50 "
                            f"{r['wall_s_p50']} s, max {r['wall_s_max']} s"),
    Spec("intake", [], quick=["--rate", "20", "--seconds", "3", "--warmup", "1"], suite=True,
         headline=lambda r: f"{r['accepted_per_s']} reports/s accepted flat out; p99 {r['p99_ms']} ms at "
                            f"{r['rate']:g}/s; {r['errors']} errors; CPU a case: suite {suite_cpu(r)} ms, "
                            f"Temporal {r['temporal_cpu_ms_per_case']} ms",
         ratio=lambda r: f"{r['ratio_to_ceiling']}× the ceiling's {r['start_and_first_task_per_s']} starts/s; "
                         f"suite CPU {r['suite_over_temporal']}× Temporal's",
         checks=(("≥ 0.9× ceiling", lambda r: (r["ratio_to_ceiling"] or 0) >= 0.9),
                 ("suite CPU a case ≤ Temporal's", lambda r: r["suite_over_temporal"] <= 1))),
    Spec("temporal_cost", [], quick=["--rate", "20", "--seconds", "3"],
         headline=lambda r: f"server CPU: bare start {r['bare_start_server_cpu_ms']} ms, start + first task "
                            f"{r['start_and_first_task_server_cpu_ms']} ms",
         ratio=lambda r: f"ceiling {r['ceiling_per_s']} workflows/s on {r['cores']} cores (bare/with task "
                         f"{r['ceiling_ratio']})"),
    Spec("console", ["--cases", "10000"],
         quick=["--cases", "300", "--agencies", "200", "--practitioners", "1000", "--seconds", "3", "--warmup", "1"],
         headline=lambda r: f"slowest page ({r['page']}) p99 {r['p99_ms']} ms, p50 {r['p50_ms']} ms at "
                            f"{r['qps_per_page']:g} req/s a page; {r['errors']} errors"),
    Spec("draw", ["--agencies", "100000", "--inspectors", "5000"],
         quick=["--agencies", "5000", "--inspectors", "300", "--repeat", "2"],
         headline=lambda r: f"{r['targets']} targets drawn in {r['seconds']} s (slowest of {r['repeats']}); "
                            f"identical on rerun: {yes(r['identical_on_rerun'])}",
         checks=(("≤ 1 s", lambda r: r["seconds"] <= 1), ("identical on rerun", lambda r: r["identical_on_rerun"]))),
    Spec("campaign", ["--targets", "10000"], quick=["--targets", "200", "--inspectors", "60"],
         headline=lambda r: f"{r['started']} of {r['targets']} task workflows started in {r['started_s']} s "
                            f"({r['targets_per_s']}/s); longest history {r['max_history_events']} events",
         ratio=lambda r: f"{r['ratio_to_ceiling']}× the ceiling's {r['ceiling_per_s']} new workflows/s",
         checks=(("all started", lambda r: r["all_started"]),
                 ("≥ 0.5× ceiling", lambda r: r["ratio_to_ceiling"] >= 0.5),
                 ("no history over 10,000 events", lambda r: r["max_history_events"] <= 10_000))),
    Spec("retime", ["--cases", "10000"], quick=["--cases", "200"],
         headline=lambda r: f"{r['cases']} provisional cases re-timed {r['retime_s']} s after the import; "
                            f"{r['missed']} missed",
         ratio=lambda r: f"{r['ratio']}× the {r['bare_signal_s']} s of as many bare signals",
         checks=(("0 missed", lambda r: r["missed"] == 0),)),
    Spec("feed", ["--associations", "20", "--events", "100000"], quick=["--associations", "4", "--events", "2000"],
         headline=lambda r: f"{r['events_per_s']} events/s to {r['associations']} associations, p99 delivery "
                            f"{r['p99_delivery_ms']} ms; lost {r['lost']}, out of order {r['out_of_order']}, "
                            f"duplicates {r['duplicates_after_resume']} ({r['resumes']} resumes)",
         ratio=lambda r: f"{r['ratio_to_bare']}× the bare stream's {r['bare_stream_events_per_s']} events/s",
         checks=(("lost 0", lambda r: r["lost"] == 0), ("out of order 0", lambda r: r["out_of_order"] == 0),
                 ("duplicates 0", lambda r: r["duplicates_after_resume"] == 0),
                 ("≥ 0.5× bare", lambda r: r["ratio_to_bare"] >= 0.5))),
    Spec("faults", [], quick=["--seconds", "20", "--settle", "60"],
         headline=lambda r: f"{r['accepted']} accepted, {r['cases_running']} running; p99 {r['p99_ms_calm']} ms "
                            f"calm, {r['p99_ms_during_faults']} ms during faults",
         checks=(("lost 0", lambda r: r["lost"] == 0),
                 ("duplicated side effects 0", lambda r: r["duplicated_side_effects"] == 0))),
    annual("sqlite"),
    annual("postgresql"),
    audit("sqlite"),
    audit("postgresql"),
    Spec("fuzz", ["--seconds", "120"], quick=["--seconds", "15"], suite=True,
         headline=lambda r: f"{r['requests']} hostile requests in {r['seconds']:g} s: {r['internal']} unintended "
                            f"answers, {r['crashes']} crashes, {r['slow_over_1s']} over 1 s, "
                            f"{r['stored_after_refusal']} refusals that stored something",
         checks=tuple((f"{key} 0", lambda r, key=key: r[key] == 0)
                      for key in ("internal", "crashes", "slow_over_1s", "stored_after_refusal"))),
]


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


@dataclass
class Outcome:
    spec: Spec
    command: str
    exit_code: int | None  # None: stopped after TIMEOUT_SECONDS
    seconds: float
    log: Path
    result: dict | None  # the last JSON line


# ---- running --------------------------------------------------------------------------------------

def metrics_ports() -> dict[str, str]:
    """Free ports for every process's metrics: the defaults may be a running `make run`'s."""
    return {f"IPSS_{name.upper()}_METRICS_PORT": str(free_port()) for name in config.DEFAULT_METRICS_PORTS}


def argv(spec: Spec, quick: bool) -> list[str]:
    return [sys.executable, "-m", f"bench.{spec.module}", *(spec.quick if quick else spec.argv)]


def shown(command: list[str]) -> str:
    return shlex.join(["python", *command[1:]])


def run_one(spec: Spec, quick: bool, log_dir: Path, env: dict[str, str]) -> Outcome:
    command = shown(argv(spec, quick))
    log = log_dir / f"{spec.name}.log"
    print(f"== {spec.name}: {command}  (log {log})", flush=True)
    started = time.monotonic()
    last_json = None
    with open(log, "w") as out:
        child = subprocess.Popen(argv(spec, quick), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        timed_out = threading.Event()
        timer = threading.Timer(TIMEOUT_SECONDS, stop_group, (child, timed_out))
        timer.daemon = True
        timer.start()
        try:
            for line in child.stdout:
                out.write(line)
                out.flush()
                sys.stdout.write("   " + line)
                if line.startswith("{"):
                    try:
                        last_json = json.loads(line)
                    except ValueError:
                        pass
            child.wait()
        except BaseException:  # Ctrl-C: the benchmark, in a session of its own, stops its servers too
            os.killpg(child.pid, signal.SIGTERM)
            child.wait()
            raise
        timer.cancel()
        exit_code = None if timed_out.is_set() else child.returncode
    seconds = time.monotonic() - started
    print(f"== {spec.name}: exit {exit_code} after {seconds:.0f} s", flush=True)
    return Outcome(spec, command, exit_code, seconds, log, last_json if isinstance(last_json, dict) else None)


def stop_group(child: subprocess.Popen, timed_out: threading.Event) -> None:
    """A benchmark past its time: SIGTERM to its process group (its servers stop), then SIGKILL."""
    timed_out.set()
    os.killpg(child.pid, signal.SIGTERM)
    time.sleep(60)
    if child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)


@contextmanager
def running_suite(log_dir: Path, env: dict[str, str]):
    """`ipss up` on ports and a var directory of its own; yields the environment that reaches it."""
    with tempfile.TemporaryDirectory(prefix="ipss-bench-suite-") as var:
        ports = {f"IPSS_{name.upper()}_PORT": str(free_port()) for name in (*config.SERVICES, "linkage")}
        env = dict(env, IPSS_VAR_DIR=var, IPSS_BIND="127.0.0.1", **ports,
                   IPSS_LINKAGE_HEALTH_PORT=str(free_port()), IPSS_CONSOLE_PORT=str(free_port()),
                   IPSS_TEMPORAL_PORT=str(free_port()), IPSS_TEMPORAL_UI_PORT=str(free_port()))
        for name in (*config.SERVICES, "linkage", "console"):
            env.pop(f"IPSS_{name.upper()}_ADDR", None)
            env.pop(f"IPSS_{name.upper()}_DATABASE_URL", None)
        for variable in TOKEN_KEY_VARIABLES:  # made in the fresh var directory, read there by the bench
            env.pop(variable, None)
        env["IPSS_TEMPORAL_ADDRESS"] = f"127.0.0.1:{env['IPSS_TEMPORAL_PORT']}"
        up = subprocess.Popen([str(Path(sys.executable).parent / "ipss"), "up"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        ready = threading.Event()

        def pump() -> None:
            with open(log_dir / "ipss-up.log", "w") as out:
                for line in up.stdout:
                    out.write(line)
                    out.flush()
                    if line.startswith("ipss is up"):
                        ready.set()
        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 180
            while not ready.wait(0.5):
                if up.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ipss up did not come up; see {log_dir / 'ipss-up.log'}")
            yield env
        finally:
            if up.poll() is None:
                up.send_signal(signal.SIGINT)
                try:
                    up.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    up.kill()
                    up.wait()
            reader.join(timeout=10)
            shutil.copytree(Path(var) / "logs", log_dir / "ipss-up-logs", dirs_exist_ok=True)


def run_all(specs: list[Spec], quick: bool, log_dir: Path) -> list[Outcome]:
    env = dict(os.environ, **metrics_ports())
    outcomes = []
    for spec in specs:
        if not spec.suite:
            outcomes.append(run_one(spec, quick, log_dir, env))
            continue
        started = time.monotonic()
        try:
            with running_suite(log_dir, env) as suite_env:
                outcomes.append(run_one(spec, quick, log_dir, suite_env))
        except RuntimeError as error:
            print(f"== {spec.name}: {error}", flush=True)
            outcomes.append(Outcome(spec, shown(argv(spec, quick)), 1, time.monotonic() - started,
                                    log_dir / "ipss-up.log", None))
    return outcomes


# ---- the machine ----------------------------------------------------------------------------------

def machine() -> list[tuple[str, str]]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    memory_kb = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
    release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]+)', release, re.M)
    return [("CPU", f"{cpu.group(1).strip() if cpu else platform.processor()}, {os.cpu_count()} cores"),
            ("Memory", f"{memory_kb / 1024 ** 2:.1f} GiB"),
            ("OS", f"{os_name.group(1) if os_name else '?'} ({platform.system()} {platform.release()})"),
            ("Python", platform.python_version()), ("PostgreSQL", postgres_version())]


def postgres_version() -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(os.environ.get("IPSS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(url, connect_timeout=3) as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
            buffers = connection.execute("SHOW shared_buffers").fetchone()[0]
        return f"{version} (shared_buffers {buffers})"
    except psycopg.Error as error:
        return f"not reachable ({type(error).__name__})"


def git_commit() -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True)
    return commit.stdout.strip() + (" (the working tree had uncommitted changes)" if dirty.stdout.strip() else "")


# ---- rendering ------------------------------------------------------------------------------------

def row(outcome: Outcome) -> list[str]:
    spec, result = outcome.spec, outcome.result
    if result is None:
        why = "stopped after its time" if outcome.exit_code is None else f"exit {outcome.exit_code}"
        return [spec.name, f"`{outcome.command}`", f"**failed** ({why}, no figures): {last_line(outcome.log)}", "—",
                spec.target or "—", "failed" if spec.target else "—"]
    try:
        headline, ratio = spec.headline(result), spec.ratio(result)
        missed = [label for label, check in spec.checks if not check(result)]
        met = "—" if not spec.checks else "no: " + "; ".join(missed) if missed else "yes"
    except (KeyError, TypeError) as error:
        headline, ratio, met = f"**unreadable figures** ({type(error).__name__}: {error})", "", "no"
    if outcome.exit_code != 0:
        headline += f" (exit {outcome.exit_code})"
    return [spec.name, f"`{outcome.command}`", headline, ratio or "—", spec.target or "—", met]


def last_line(log: Path) -> str:
    """What a failed benchmark said last: its exception (with a gRPC error's status and details), or
    else its last line; shortened."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()] \
        if log.exists() else []
    raised = [i for i, line in enumerate(lines) if re.match(r"[\w.]+(Error|Exception)\b", line)]
    if raised:
        said = " ".join([lines[raised[-1]], *(line for line in lines[raised[-1] + 1:]
                                               if line.startswith(("status =", "details =")))])
    else:
        said = lines[-1] if lines else "no output"
    return (said[:197] + "…" if len(said) > 200 else said).replace("`", "'").replace("<", "&lt;")


def table(outcomes: list[Outcome]) -> str:
    lines = ["| Benchmark | Command | Headline | Ratio in the same run | Target | Met |", "|---" * 6 + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row(o)) + " |" for o in outcomes]
    return "\n".join(lines)


@dataclass(frozen=True)
class Run:
    quick: bool
    subset: bool
    when: datetime
    seconds: float
    log_dir: Path

    def about(self) -> str:
        which = "**some benchmarks** (`--only`)" if self.subset else "every benchmark"
        sizes = "at **quick sizes** (`--quick`), not the full ones" if self.quick else "at the sizes the README lists"
        took = f"{self.seconds / 60:.0f} min" if self.seconds >= 120 else f"{self.seconds:.0f} s"
        return (f"{which} once, one at a time, {sizes}: {self.when:%Y-%m-%d %H:%M} UTC, commit {git_commit()}, "
                f"{took} in all")


def results_page(outcomes: list[Outcome], run: Run) -> str:
    parts = ["# Benchmark results", "",
             f"Written by `make bench` (`python -m bench.all`): {run.about()}. Each ratio is to the floor or "
             "ceiling the benchmark measured in the same run, on the same machine. The logs are in "
             f"`{run.log_dir.relative_to(ROOT) if run.log_dir.is_relative_to(ROOT) else run.log_dir}/` "
             "(not kept in git).", "",
             "## The machine", "", *[f"- {name}: {value}" for name, value in machine()], "",
             "## Figures", "", table(outcomes), "", "## Each benchmark's JSON", ""]
    for o in outcomes:
        status = f"exit {o.exit_code}" if o.exit_code is not None else "stopped after its time"
        body = json.dumps(o.result, ensure_ascii=False, indent=1) if o.result else "(no JSON line)"
        parts += [f"<details><summary>{o.spec.name}: {status}, {o.seconds:.0f} s</summary>", "",
                  f"`{o.command}`", "", "```json", body, "```", "", "</details>", ""]
    return "\n".join(parts)


def update_readme(outcomes: list[Outcome], run: Run) -> bool:
    text = README.read_text()
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    block = (f"{START}\nLast run: {run.about()}; the machine and each benchmark's JSON are in "
             f"[bench/RESULTS.md](bench/RESULTS.md).\n\n{table(outcomes)}\n")
    README.write_text(head + block + END + rest.split(END, 1)[1])
    return True


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__.split("\n")[0])
    options.add_argument("--only", help="comma-separated names: " + ", ".join(s.name for s in SPECS))
    options.add_argument("--quick", action="store_true", help="small sizes, to try the runner out")
    args = options.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    specs = [s for s in SPECS if wanted is None or s.name in wanted or s.module in wanted]
    if not specs or (wanted and wanted - {s.name for s in specs} - {s.module for s in specs}):
        options.error(f"unknown benchmark in --only; known: {', '.join(s.name for s in SPECS)}")
    when = datetime.now(UTC)
    log_dir = config.var_dir() / "bench" / when.strftime("%Y%m%dT%H%M%SZ")
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcomes = run_all(specs, args.quick, log_dir)
    run = Run(args.quick, bool(wanted), when, time.monotonic() - started, log_dir)
    RESULTS.write_text(results_page(outcomes, run))
    readme = "and the table in README.md" if update_readme(outcomes, run) else f"(README.md has no {START})"
    print(f"\n{table(outcomes)}\n\nwrote {RESULTS.relative_to(ROOT)} {readme}; logs in {log_dir}", flush=True)
    return 0 if all(o.result is not None and o.exit_code == 0 for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
