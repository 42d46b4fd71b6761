"""`ipss calendar add|deadline START N` as an operator runs it: the installed command in a child
process, printing exactly one YYYY-MM-DD line, or a clear message on stderr and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rules.workdays import CALENDAR_DIR_ENV

IPSS = Path(sys.executable).with_name("ipss")


def ipss_calendar(*args: str, calendar_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != CALENDAR_DIR_ENV}
    if calendar_dir is not None:
        env[CALENDAR_DIR_ENV] = str(calendar_dir)
    return subprocess.run([str(IPSS), "calendar", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("args", "printed"), [
    (("add", "2025-09-26", "15"), "2025-10-23\n"),  # across National Day, two make-up days worked
    (("add", "2026-02-14", "1"), "2026-02-24\n"),  # across the Spring Festival
    (("deadline", "2026-03-06", "15"), "2026-03-23\n"),  # Saturday 03-21 -> Monday
    (("deadline", "2025-09-16", "15"), "2025-10-09\n"),  # 10-01 -> after the holiday
])
def test_prints_the_date_only(args, printed):
    result = ipss_calendar(*args)
    assert (result.returncode, result.stdout, result.stderr) == (0, printed, "")


def test_a_year_without_a_schedule_is_counted_provisionally_and_said_so_until_an_operator_supplies_it(tmp_path):
    result = ipss_calendar("add", "2099-09-30", "1", calendar_dir=tmp_path)
    # 2099-10-01..10-03 are statutory holidays (Thursday to Saturday); no bridging day is known.
    assert (result.returncode, result.stdout) == (0, "2099-10-05\n")
    assert "暂定" in result.stderr and "2099年" in result.stderr
    (tmp_path / "2099.yaml").write_text('holidays: ["2099-10-01..2099-10-07"]\nworkdays: []\nsource: test\n',
                                        encoding="utf-8")
    result = ipss_calendar("add", "2099-09-30", "1", calendar_dir=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "2099-10-08\n", "")


def test_bad_arguments_exit_2():
    assert ipss_calendar("add", "26/09/2025", "15").returncode == 2
    negative = ipss_calendar("deadline", "2025-09-26", "-1")
    assert negative.returncode == 2 and "runs backwards" in negative.stderr
