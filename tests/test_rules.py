"""The statutory rules file: every period of DOMAIN.md's table with its default length, the
figures around them, validation that names the problem, versions kept for old cases, and the
rules as plain data."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from rules import ExtensionRefused, Rules, RulesError
from rules.statutes import PERIODS_FILE, REQUIRED_PERIODS

DOMAIN_FILE = Path(os.environ.get("IPSS_DOMAIN_FILE", "/work/shared/DOMAIN.md"))
ABBREVIATIONS = {"working_days": "WD", "calendar_days": "CD", "months": "months", "years": "years"}

# Each row of DOMAIN.md's "Default periods" table (by the start of its step) and the rules ids
# that carry it; rows that are not periods (sanctions, confidentiality) map to nothing here.
DOMAIN_ROWS = {
    "verify a lead and decide to open a case": ["verify_and_open"],
    "limitation: no penalty for a violation undiscovered for": ["limitation_period"],
    "tell a real-name reporter whether a case was opened": ["notify_reporter_of_opening"],
    "reporter confidentiality": [],
    "consumer complaint: accept or reject / mediation ends without agreement": ["consumer_accept",
                                                                                 "consumer_mediation"],
    "decide an ordinary-procedure case": ["decide_ordinary_case"],
    "statement/defence and hearing request after the prior notice": ["statement_and_defence", "hearing_request"],
    "hearing available for": [],
    "hearing notice to the party": ["hearing_notice"],
    "serve the decision when the party was absent": ["serve_absent_party"],
    "pay a fine": ["pay_fine"],
    "reconsideration / litigation window": ["reconsideration_window", "litigation_window"],
    "publish a penalty": ["publish_penalty", "withdraw_publication"],
    "publicity period": ["publicity_low", "publicity_standard"],
    "credit repair": ["credit_repair_after"],
    "patent agency annual report": ["abnormal_list_to_serious"],
    "serious-violation list": ["serious_violation_list", "serious_violation_early_removal"],
    "publish double-random inspection results": ["publish_inspection_result"],
    "patent agency sanctions": [],
    "patent attorney sanctions": [],
    "unlicensed patent agency practice": [],
    "trademark agency sanctions": [],
    "IP credit: bad-faith conduct": [],
}


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load()


def spelled(length: int, unit: str) -> str:
    """How DOMAIN.md writes a length: 15 WD, 90 CD, 6 months, 1 year."""
    word = ABBREVIATIONS[unit]
    return f"{length} {word[:-1] if length == 1 and word.endswith('s') else word}"


def mentions(text: str, length: str) -> bool:
    """`length` stands on its own in `text`: "15 WD" is not found in "+15 WD" nor in "115 WD"."""
    before = r"(?<![\d+])" if not length.startswith("+") else r"(?<!\d)"
    return re.search(before + re.escape(length) + r"\b", text) is not None


def domain_rows() -> dict[str, str]:
    if not DOMAIN_FILE.is_file():
        pytest.skip(f"{DOMAIN_FILE} is not on this machine (set IPSS_DOMAIN_FILE)")
    table = DOMAIN_FILE.read_text(encoding="utf-8").split("## Default periods", 1)[1].split("\n\n**", 1)[0]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[1].strip() for cells in rows[1:]}


def test_the_current_file_loads_with_its_version(rules):
    assert re.fullmatch(r"\d{4}\.\d+", rules.version)
    assert rules.effective_from.isoformat() == "2026-01-01"
    assert set(REQUIRED_PERIODS) <= set(rules.periods)
    for period in rules.periods.values():
        assert period.legal_source and period.description.zh and period.description.en


def test_every_period_of_the_domain_table_is_in_the_rules_with_its_default(rules):
    rows = domain_rows()
    unmatched = [step for step in rows if not any(step.startswith(known) for known in DOMAIN_ROWS)]
    assert not unmatched, f"DOMAIN.md rows this test does not know: {unmatched}"
    for step, default in rows.items():
        ids = next(ids for known, ids in DOMAIN_ROWS.items() if step.startswith(known))
        for period_id in ids:
            period = rules.periods[period_id]
            assert mentions(default, spelled(period.length, period.unit)), (period_id, default)
            for rung in period.extensions:
                if rung.length is not None:
                    assert mentions(default, "+" + spelled(rung.length, period.unit)), (period_id, default)
    assert rows[next(s for s in rows if s.startswith("patent agency annual report"))].startswith("1–31 March")
    window = rules.windows["annual_report_window"]
    assert (window.opens, window.closes) == ("03-01", "03-31")


def test_the_figures_around_the_periods(rules):
    assert (rules.surcharge.percent_per_day, rules.surcharge.cap_percent_of_fine) == (3, 100)
    assert set(rules.surcharge.paused_during) == {"reconsideration", "litigation"}
    assert rules.surcharge.accrued(fine_fen=1_000_000, days_late=10) == 300_000
    assert rules.surcharge.accrued(fine_fen=1_000_000, days_late=34) == 1_000_000  # capped at the fine
    assert rules.surcharge.accrued(fine_fen=333, days_late=1) == 9  # 9.99 fen, rounded down
    assert rules.hearing.amount_at_least_yuan == {"person": 10_000, "organisation": 100_000}
    assert rules.hearing_available("person", ["fine"], fine_fen=1_000_000)
    assert not rules.hearing_available("person", ["fine"], fine_fen=999_999)
    assert not rules.hearing_available("organisation", ["fine"], fine_fen=9_999_999)
    assert rules.hearing_available("organisation", ["warning", "licence_revocation"])
    assert rules.hearing_available("organisation", ["confiscation"], confiscated_fen=10_000_000)
    with pytest.raises(ValueError, match="unknown measure licence_revoke"):
        rules.hearing_available("organisation", ["licence_revoke"])
    assert rules.publicity_period(["warning"]) is None
    assert rules.publicity_period(["public_criticism"]).id == "publicity_low"
    assert rules.publicity_period(["warning", "fine"], fine_fen=999_999).id == "publicity_low"
    assert rules.publicity_period(["fine"], fine_fen=1_000_000).id == "publicity_standard"
    assert rules.publicity_period(["fine", "stop_business"], fine_fen=100).id == "publicity_standard"
    with pytest.raises(ValueError, match="needs its amount"):
        rules.publicity_period(["fine"])
    assert rules.credit_repair_allowed(["warning", "fine"])
    assert not rules.credit_repair_allowed(["fine", "practice_ban"])
    # The sections answer alike without the vocabulary check.
    assert rules.hearing.available("person", ["fine"], fine_fen=1_000_000)
    assert rules.publicity.period_id(["fine"], fine_fen=999_999) == "publicity_low"
    assert not rules.credit_repair.allowed_after(["licence_revocation"])
    assert rules.periods["duplicate_merge_window"].length == 30


def test_extensions_climb_the_ladder(rules):
    decide = rules.periods["decide_ordinary_case"]
    assert decide.extension_length("supervisor") == 30
    with pytest.raises(ExtensionRefused, match="the next is for supervisor to approve, not collective_decision"):
        decide.extension_length("collective_decision", length=20)
    assert decide.extension_length("collective_decision", granted=["supervisor"], length=20) == 20
    assert decide.extension_length("collective_decision", granted=["supervisor", "collective_decision"],
                                   length=10) == 10
    with pytest.raises(ExtensionRefused, match="needs the length"):
        decide.extension_length("collective_decision", granted=["supervisor"])
    with pytest.raises(ExtensionRefused, match="is 30 calendar_days, not 45"):
        decide.extension_length("supervisor", length=45)
    verify = rules.periods["verify_and_open"]
    with pytest.raises(ExtensionRefused, match="nobody"):
        verify.extension_length("supervisor", granted=["supervisor"])
    with pytest.raises(ExtensionRefused):
        rules.periods["pay_fine"].extension_length("supervisor")


def test_the_rules_travel_as_plain_data(rules):
    data = json.loads(json.dumps(rules.to_data(), ensure_ascii=False))
    assert Rules.from_data(data) == rules
    assert data["version"] == rules.version and data["effective_from"] == "2026-01-01"


def broken(rules: Rules, change) -> dict:
    data = copy.deepcopy(rules.to_data())
    change(data)
    return data


def entry(data: dict, period_id: str) -> dict:
    return next(p for p in data["periods"] if p["id"] == period_id)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: entry(d, "pay_fine").update(unit="weeks"), "pay_fine).unit: 'weeks' is not one of working_days"),
    (lambda d: entry(d, "pay_fine").update(length=-15), "pay_fine).length: expected a whole number >= 1, got -15"),
    (lambda d: entry(d, "pay_fine").update(length=0), "expected a whole number >= 1, got 0"),
    (lambda d: entry(d, "pay_fine").update(length=True), "got True"),
    (lambda d: entry(d, "pay_fine").pop("legal_source"), "pay_fine): missing field 'legal_source'"),
    (lambda d: entry(d, "pay_fine").update(lenght=15), "unknown field lenght"),
    (lambda d: d["periods"].append(copy.deepcopy(entry(d, "pay_fine"))), "id 'pay_fine' appears twice"),
    (lambda d: d["periods"].remove(entry(d, "pay_fine")), "missing pay_fine"),
    (lambda d: entry(d, "pay_fine").update(suspended_by=["lunch"]), "unknown 'lunch'"),
    (lambda d: entry(d, "pay_fine").update(counts="before"), "only a period in working_days may count before"),
    (lambda d: entry(d, "pay_fine").update(id="Pay Fine"), "is not a snake_case id"),
    (lambda d: entry(d, "decide_ordinary_case")["extensions"].reverse(), "only the last rung"),
    (lambda d: entry(d, "verify_and_open")["extensions"][0].update(approved_by="clerk"), "'clerk' is not one of"),
    (lambda d: entry(d, "verify_and_open")["extensions"][0].update(unit="calendar_days"),
     "'calendar_days' is not one of working_days"),
    (lambda d: entry(d, "pay_fine")["description"].pop("en"), "description: missing field 'en'"),
    (lambda d: d.update(version="latest"), "not of the form YYYY.N"),
    (lambda d: d.update(effective_from="1 Jan 2026"), "expected a date YYYY-MM-DD"),
    (lambda d: d.update(warning_percent=120), "at most 100"),
    (lambda d: d["hearing"]["amount_at_least_yuan"].pop("organisation"), "missing field 'organisation'"),
    (lambda d: d["publicity"].update(short_period="publicity_brief"), "'publicity_brief' is not one of"),
    (lambda d: d["surcharge"].update(paused_during=["appeal"]), "unknown 'appeal'"),
    (lambda d: d["windows"][0].update(closes="02-29"), "'02-29' is not a day of every year"),
    (lambda d: d["windows"][0].update(opens="04-01"), "closes before it opens"),
    (lambda d: d.pop("surcharge"), "missing field 'surcharge'"),
])
def test_invalid_rules_are_refused_with_the_problem_named(rules, change, problem):
    with pytest.raises(RulesError, match=re.escape(problem)):
        Rules.from_data(broken(rules, change))


def test_a_key_given_twice_in_the_file_is_refused(tmp_path):
    text = PERIODS_FILE.read_text(encoding="utf-8").replace("warning_percent: 80", "warning_percent: 80\nversion: x")
    (tmp_path / "periods.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match="key 'version' given twice"):
        Rules.load(tmp_path / "periods.yaml")


def test_a_case_loads_the_version_it_was_opened_under(rules, tmp_path):
    (tmp_path / "history").mkdir()
    shutil.copy(PERIODS_FILE, tmp_path / "history" / f"{rules.version}.yaml")
    newer = PERIODS_FILE.read_text(encoding="utf-8").replace(f'version: "{rules.version}"', 'version: "2099.1"')
    newer = newer.replace("  - id: pay_fine\n    length: 15", "  - id: pay_fine\n    length: 20")
    (tmp_path / "periods.yaml").write_text(newer, encoding="utf-8")
    assert Rules.load_version("2099.1", tmp_path).periods["pay_fine"].length == 20
    assert Rules.load_version(rules.version, tmp_path) == rules
    with pytest.raises(RulesError, match="'2025.1' is not kept"):
        Rules.load_version("2025.1", tmp_path)
    with pytest.raises(RulesError, match="YYYY.N"):
        Rules.load_version("../periods", tmp_path)
    shutil.copy(tmp_path / "periods.yaml", tmp_path / "history" / "2098.1.yaml")
    with pytest.raises(RulesError, match="holds version '2099.1', not '2098.1'"):
        Rules.load_version("2098.1", tmp_path)
    assert Rules.load_version(rules.version) == rules


# Each version's content, as the workflows read it (suite.periods.rules_of): a case's workflow
# reads its version's rules from the package, so a version must never change once cases run on
# it. A new version is added here with its fingerprint; an edit in place fails.
KEPT_VERSIONS = {"2026.1": "0b49e6583b08a0eeabc698c1641418f7070c7f001be4e2b41ec14220b0d3615f"}


def fingerprint(rules: Rules) -> str:
    return hashlib.sha256(json.dumps(rules.to_data(), sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def test_a_rules_version_never_changes_once_kept(rules):
    kept = {path.stem for path in (PERIODS_FILE.parent / "history").glob("*.yaml")} | {rules.version}
    assert kept == set(KEPT_VERSIONS), "a new rules version needs its fingerprint in KEPT_VERSIONS"
    for version, expected in KEPT_VERSIONS.items():
        assert fingerprint(Rules.load_version(version)) == expected, (
            f"rules version {version} changed in place: keep it in rules/history and give the edit a new version")
