"""Intake rules without I/O: tracking codes people can copy, secrets derived under the service's
key (stored only as hashes), case numbers, and the duplicate window from the rules file; the
record's late-payment surcharge of any day and the reporter's note on a provisional deadline."""

from __future__ import annotations

from datetime import date, timedelta

from rules import Rules, WorkingDayCalendar
from services.complaints import domain


def test_tracking_codes_use_no_look_alike_characters_and_read_back_however_typed():
    codes = {domain.new_tracking_code() for _ in range(200)}
    assert len(codes) == 200
    assert set("01OILUV").isdisjoint(domain.TRACKING_ALPHABET)
    for code in codes:
        assert len(code) == 11 and code[5] == "-"
        assert domain.normalize_tracking(f" {code.lower().replace('-', ' ')} ") == code


def test_a_secret_is_derived_from_its_code_under_the_key_and_kept_only_as_a_hash():
    code = domain.new_tracking_code()
    secret = domain.tracking_secret(b"key-one", code)
    assert secret == domain.tracking_secret(b"key-one", code)
    assert secret != domain.tracking_secret(b"key-two", code)
    assert secret != domain.tracking_secret(b"key-one", domain.new_tracking_code())
    assert len(secret) == 19 and set(secret) <= set(domain.TRACKING_ALPHABET + "-")
    stored = domain.secret_hash(secret)
    assert secret not in stored
    assert domain.secret_matches(secret.lower().replace("-", ""), stored)
    assert not domain.secret_matches(domain.tracking_secret(b"key-two", code), stored)


def test_case_ids_carry_the_year_and_the_province_of_jurisdiction():
    assert domain.case_id(2026, "320585", 42) == "case-2026-320000-000042"
    assert domain.case_id(2027, "110000", 1) == "case-2027-110000-000001"


def test_the_duplicate_window_comes_from_the_rules_file():
    rules = Rules.load()
    window = rules.periods["duplicate_merge_window"]
    calendar = WorkingDayCalendar.load()
    intake = domain.IntakeRules(rules.version, window, lambda: calendar)
    received = date(2026, 9, 30)
    assert window.unit == "calendar_days" and not window.roll_forward
    assert intake.joins(received, received + timedelta(days=window.length))
    assert not intake.joins(received, received + timedelta(days=window.length + 1))


def test_the_queue_sorts_cases_without_a_deadline_last_and_counts_a_passed_deadline_as_overdue():
    today = date(2026, 11, 25)
    assert domain.due_sort_key(None) > domain.due_sort_key(date(2999, 1, 1))
    assert domain.is_overdue(False, today - timedelta(days=1), today)
    assert not domain.is_overdue(False, today, today)
    assert domain.is_overdue(True, None, today)


SURCHARGE = Rules.load().surcharge  # 3 % of the fine a day, at most the fine


def pay_fine(due_on: str, state: str = "running", provisional: bool = False) -> list[dict]:
    return [dict(period_id="verify_and_open", due_on="2026-03-20", state="met"),
            dict(period_id="pay_fine", due_on=due_on, state=state, provisional=provisional)]


def test_the_surcharge_is_counted_to_the_day_asked_or_the_day_paid_without_review_days():
    today = date(2026, 6, 30)
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20"), None, [], today) == 6_000
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20"), date(2026, 6, 22), [], today) == 1_200
    reviews = [["2026-06-21", "2026-06-24"], ["2026-06-29", ""]]  # 4 days concluded, 2 still pending
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20"), None, reviews, today) == 2_400
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-04-20"), None, [], today) == 20_000
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-07-20"), None, [], today) == 0


def test_no_surcharge_on_a_provisional_deadline_a_revoked_decision_or_without_a_fine():
    today = date(2026, 6, 30)
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20", provisional=True), None, [], today) == 0
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20", state="cancelled"), None, [], today) == 0
    assert domain.surcharge_owed(SURCHARGE, 20_000, pay_fine("2026-06-20")[:1], None, [], today) == 0
    assert domain.surcharge_owed(SURCHARGE, 0, pay_fine("2026-06-20"), None, [], today) == 0


def test_a_reporter_reads_why_a_provisional_deadline_may_move():
    assert domain.provisional_note(date(2027, 2, 22), True) == "暂定：2027年放假安排尚未发布，日期可能调整"
    assert domain.provisional_note(date(2027, 2, 22), False) == ""
    assert domain.provisional_note(None, True) == ""
