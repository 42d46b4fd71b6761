"""The console's gettext catalogues (console/locale/<locale>/LC_MESSAGES/messages.po): both parse,
hold the same ids (interface texts asking for the same {values}: the page fills in exactly those;
a refusal's text may leave out a value its refusal carries), and every id the console asks for: its
templates and code name (extracted as pybabel extracts them), those it builds (a status's heading,
a form field's label, a word of the services, a statutory period) and the reason of every refusal
a service, a workflow or the console itself makes, whose text asks only for values the refusal
carries; and the words of every timeline entry the case workflow notes and every notice it sends
(their texts asking only for the data given), the Chinese the complaints service words a
reporter's messages in being the catalogue's. A missing id would show a reader the id itself, or
the service's English; how a refusal's values and a timeline entry's data are worded, and what is
shown when their words cannot be found."""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from structlog.testing import capture_logs

from console import forms, i18n, refusals, timeline
from console.app import DEV_ROLES
from console.officers import STATUS_OF_CODE
from console.settings import Settings
from console.web import Pages
from contracts import timeline as words_of
from contracts.case_actions import CASE_ACTIONS
from ipss.complaints.v1 import complaints_pb2 as pb
from rules import Rules
from services.complaints import domain
from suite.errors import InvalidArgument, NotFound
from suite.protos import enum_words
from workflows.case import procedure

ROOT = Path(__file__).resolve().parents[1]
REASON = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
# Calls that name a refusal's reason, by the position of the reason and of a dict of its metadata.
REASON_CALLS = {"AlreadyExists": (0, None), "FailedPrecondition": (0, None), "PermissionDenied": (0, None),
                "Unauthenticated": (0, None), "Unavailable": (0, None), "OutOfRange": (0, None), "ResourceExhausted": (0, None), "refuse": (0, None), "deny": (0, None),
                "__init__": (0, None), "FieldViolation": (1, 3), "Problem": (0, 2), "Violation": (0, 2),
                "own": (1, None)}
# Calls whose argument is a kind of record that may not be found (its reason: KIND_NOT_FOUND).
NOT_FOUND_CALLS = {"NotFound": 0, "one_or_not_found": 2}
NOT_REASON_KEYWORDS = {"field", "subject", "violation_type"}
# Calls that send reporters a notice, by the position of its code (its data are the keywords).
NOTICE_CALLS = {"_tell_reporters_about_opening": 2}
# Data given as `**call(...)`, by the function: the names it gives.
DATA_CALLS = {"penalty_data": set(procedure.penalty_data(procedure.Penalty("fine", 1)))}


def catalogue(lang: str) -> Catalog:
    with i18n.catalogue_path(lang, ".po").open("rb") as file:
        return read_po(file, locale=i18n.LOCALES[lang])


def values_asked(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_catalogues_parse_and_hold_the_same_ids_in_full():
    zh, en = catalogue("zh"), catalogue("en")
    assert {m.id for m in zh if m.id} == {m.id for m in en if m.id}
    for message in zh:
        if not message.id:
            continue
        other = en[message.id]
        assert message.string and other.string and not message.fuzzy and not other.fuzzy, message.id
        if not message.id.startswith("reason."):
            assert values_asked(message.string) == values_asked(other.string), message.id
    for lang in i18n.LANGUAGES:  # the compiled catalogue is the one read, and up to date
        assert i18n.text(lang, "nav.queue") == catalogue(lang)["nav.queue"].string


def named_ids() -> set[str]:
    """The ids the templates and the console's code name, as `pybabel extract` finds them: t(),
    _() and gettext() in templates, i18n.text(lang, id) and t() in the code."""
    keywords = {"t": None, "_": None, "gettext": None, "text": (2,)}
    method_map = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                     "lstrip_blocks": "true"}}
    found = {message for _, _, message, _, _ in extract_from_dir(
        ROOT / "console", method_map=method_map, options_map=options, keywords=keywords)}
    assert len(found) > 250, "the extraction found too little to be right"
    return found


def built_ids() -> set[str]:
    """The ids the console makes up from what it shows."""
    action_forms = (forms.ACTION_FORMS, forms.TASK_ACTION_FORMS, forms.CAMPAIGN_ACTION_FORMS,
                    forms.PLAN_ACTION_FORMS, forms.NEW_PLAN_FORMS)
    fields = [field for form_set in action_forms for form in form_set.values() for field in form.fields]
    vocabularies = {"stage": pb.CaseStage, "category": pb.ViolationCategory, "outcome": pb.CaseOutcome,
                    "source": pb.ReportSource, "penalty_kind": pb.PenaltyKind, "review_kind": pb.ReviewKind,
                    "referral_answer": pb.ReferralAnswer, "subject_kind": pb.SubjectKind}
    return {
        *(f"error.{code.name}" for code in STATUS_OF_CODE), "error.OTHER",
        *(f"field.{field.label or field.path}" for field in (*fields, forms.EFFECTIVE_ON)),
        *(f"label.action.{name}" for form_set in action_forms for name in form_set),
        *(f"label.action.{name}" for name in CASE_ACTIONS),
        *(f"label.{name}.{word}" for name, enum in vocabularies.items() for word in enum_words(enum.DESCRIPTOR)),
        *(f"label.role.{role}" for role in DEV_ROLES),
        *(f"label.period.{period}" for period in Rules.load().periods),
        *(f"label.service.{service}" for service in ("registry", "complaints", "inspections")),
    }


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_id_the_console_names_or_builds_is_in_the_catalogue(lang):
    missing = sorted(key for key in named_ids() | built_ids() if not i18n.known(lang, key))
    assert not missing, f"missing from the {lang} catalogue: {missing}"


def refusals_made() -> Iterator[tuple[str, set[str], str]]:
    """Every refusal the code makes: its reason, the metadata it gives, and where."""
    yield InvalidArgument.REASON, {"fields"}, "suite/errors.py"
    for root in ("suite", "services", "workflows", "contracts", "console"):
        for path in sorted((ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text())
            constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                         for target in node.targets if isinstance(target, ast.Name)
                         and isinstance(node.value, ast.Constant)}
            for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
                yield from _refusal_of(call, constants, f"{path.relative_to(ROOT)}:{call.lineno}")


def _refusal_of(call: ast.Call, constants: dict, where: str) -> Iterator[tuple[str, set[str], str]]:
    name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
    if name in NOT_FOUND_CALLS and len(call.args) > NOT_FOUND_CALLS[name]:
        kind = call.args[NOT_FOUND_CALLS[name]]
        if isinstance(kind, ast.Constant):
            yield NotFound(kind.value, "").reason, {"key"}, where
    if name not in REASON_CALLS:
        return
    position, metadata_position = REASON_CALLS[name]
    if len(call.args) <= position:
        return
    argument = call.args[position]
    reason = constants.get(argument.id) if isinstance(argument, ast.Name) else getattr(argument, "value", None)
    if not isinstance(reason, str) or not REASON.fullmatch(reason):
        return
    given = {k.arg for k in call.keywords if k.arg} - NOT_REASON_KEYWORDS
    if metadata_position is not None and len(call.args) > metadata_position:
        given |= {key.value for key in call.args[metadata_position].keys}
    yield reason, given, where


def test_every_refusal_has_its_words_in_both_languages_with_the_values_it_carries():
    found = list(refusals_made())
    assert len({reason for reason, _, _ in found}) > 150, "the scan found too few refusals to be right"
    for reason, given, where in found:
        for lang in i18n.LANGUAGES:
            key = f"reason.{reason}"
            assert i18n.known(lang, key), f"{where}: {reason} has no words in {lang}"
            assert values_asked(i18n.text(lang, key)) <= given, f"{where}: {reason} gives only {given}"


def test_a_refusal_reads_the_services_words_as_the_reader_does_and_falls_back_on_the_message():
    pages = Pages(Settings(registry_address="", complaints_address=""))
    window = {"period_id": "litigation_window", "due_on": "2027-01-04", "provisional": "True"}
    assert refusals.words(pages, "zh", "REVIEW_WINDOW_OPEN", window, "") == \
        "“行政诉讼起诉期限”至 2027-01-04 届满，届满前不能结案（暂定）"
    assert refusals.words(pages, "en", "ACTION_NOT_IN_STAGE", {"action": "open", "stage": "decided"}, "") == \
        "“Open the case” is not possible in the Decided stage"
    with capture_logs() as logged:
        assert refusals.words(pages, "zh", "NOT_IN_ANY_CATALOGUE", {}, "as the service said") == "as the service said"
        assert refusals.words(pages, "zh", "STATEMENT_WINDOW_OPEN", {}, "its values missing") == "its values missing"
    assert [entry["reason"] for entry in logged] == ["NOT_IN_ANY_CATALOGUE", "STATEMENT_WINDOW_OPEN"]


# ---- the timeline and the notices ------------------------------------------------------------------

def data_given(call: ast.Call) -> tuple[set[str], dict[str, str]]:
    """The names of the data a note or notice gives, and those given as constants with their values."""
    names, constants = set(), {}
    for keyword in call.keywords:
        if keyword.arg is None:
            names |= DATA_CALLS[getattr(keyword.value.func, "id", None) or keyword.value.func.attr]
        elif keyword.arg != "internal":
            names.add(keyword.arg)
            if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str):
                constants[keyword.arg] = keyword.value.value
    return names, constants


def noted() -> Iterator[tuple[str, str, bool, set[str], dict[str, str], str]]:
    """Every timeline entry and notice the workflows make: kind, code, public, the data it gives
    (and those given as constants), and where."""
    for path in sorted((ROOT / "workflows").rglob("*.py")):
        for call in (node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)):
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            if name == "note" and len(call.args) >= 2:
                public = any(k.arg == "internal" and k.value.value is False for k in call.keywords)
                yield (words_of.TIMELINE, call.args[1].value, public, *data_given(call), where)
            elif name in NOTICE_CALLS:
                yield (words_of.NOTICE, call.args[NOTICE_CALLS[name]].value, True, *data_given(call), where)
    yield words_of.NOTICE, domain.JOINED_NOTICE_CODE, True, set(), {}, "services/complaints/store.py"
    yield words_of.NOTICE, domain.MERGED_NOTICE_CODE, True, set(), {}, "services/complaints/store.py"


def texts_of(kind: str, code: str, given: set[str]) -> list[str]:
    """The ids of the texts an entry's words are made of: its own, its penalty's, its marks'."""
    penalties = [f"penalty.{penalty}" for penalty in procedure.PENALTY_KINDS] + ["penalty.suspension_with_fine"]
    return [words_of.key(kind, code), *(penalties if "penalty_kind" in given else []),
            *(mark for name, mark in words_of.MARKS.items() if name in given)]


def test_every_timeline_entry_and_notice_has_its_words_in_both_languages_with_the_data_it_gives():
    found = list(noted())
    assert len({code for kind, code, *_ in found if kind == words_of.TIMELINE}) > 40, "the scan found too few"
    for kind, code, _, given, constants, where in found:
        for lang in i18n.LANGUAGES:
            for text_id in texts_of(kind, code, given):
                assert i18n.known(lang, text_id), f"{where}: {text_id} has no words in {lang}"
                asked = values_asked(i18n.text(lang, text_id)) - {"penalty"}
                assert asked <= given, f"{where}: {text_id} asks for {asked - given}, given {given}"
            for name, word in constants.items():
                if name in words_of.VOCABULARIES:
                    assert i18n.known(lang, f"label.{words_of.VOCABULARIES[name]}.{word}"), f"{where}: {word}"


def test_the_service_words_what_a_reporter_reads_in_the_catalogues_chinese():
    zh = catalogue("zh")
    for text_id, text in domain.REPORTER_WORDS.items():
        assert zh.get(text_id) is not None and zh.get(text_id).string == text, text_id
    service = set(domain.REPORTER_WORDS)
    for kind, code, public, given, _, where in noted():
        if not public:
            continue
        missing = set(texts_of(kind, code, given)) - service
        for name in given & set(words_of.VOCABULARIES):
            prefix = f"label.{words_of.VOCABULARIES[name]}."
            missing |= {m.id for m in zh if m.id and m.id.startswith(prefix)} - service
        assert not missing, f"{where}: a reporter reads {code}; the service lacks {sorted(missing)}"


def test_a_timeline_entry_is_worded_from_its_code_and_data_and_an_old_one_shown_as_recorded():
    pages = Pages(Settings(registry_address="", complaints_address=""))
    retimed = pb.TimelineEntry(action="deadline_retimed", data={
        "period_id": "pay_fine", "before": "2027-02-05", "after": "2027-02-08", "years": "2027"})
    assert timeline.entry_words(pages, "zh", retimed) == \
        "“罚款缴纳期限”截止日期由 2027-02-05 调整为 2027-02-08（2027年放假安排已发布）"
    assert timeline.entry_words(pages, "en", retimed) == \
        "“period to pay the fine” moved from 2027-02-05 to 2027-02-08 (the 2027 holiday schedule is published)"
    decided = pb.TimelineEntry(action="decided", data={"on": "2026-03-02", "penalty_kind": "suspension",
                                                       "fine_cny": "20000", "suspension_months": "6"})
    assert timeline.entry_words(pages, "zh", decided) == "2026-03-02 作出处理决定：停止承接新业务 6 个月，并处罚款 20000 元"
    paid = pb.TimelineEntry(action="paid", data={"on": "2026-04-01", "amount_cny": "5150", "surcharge_cny": "150"})
    assert timeline.entry_words(pages, "en", paid) == "5150 CNY paid on 2026-04-01 including 150 CNY surcharge"
    on_time = pb.TimelineEntry(action="paid", data={"on": "2026-04-01", "amount_cny": "5000", "surcharge_cny": "0"})
    assert timeline.entry_words(pages, "zh", on_time) == "2026-04-01 缴纳 5000 元"
    recorded = pb.TimelineEntry(action="opened", detail="2026-01-05 立案调查 case opened")
    assert timeline.entry_words(pages, "en", recorded) == "2026-01-05 立案调查 case opened"
    with capture_logs() as logged:
        assert timeline.entry_words(pages, "zh", pb.TimelineEntry(action="not_in_any_catalogue")) == \
            "not_in_any_catalogue"
        assert timeline.entry_words(pages, "zh", pb.TimelineEntry(action="opened")) == "opened"  # its data missing
    assert [entry["text_id"] for entry in logged] == ["timeline.not_in_any_catalogue", "timeline.opened"]
    # A reporter reads no handler's typed reason (issue 15 item 3): the notice is worded without it
    # even if one reached the page, and a declined entry by the portal's own text.
    notice = pb.ReporterMessage(notice="declined", data={"reason": "证据不足"}, text="您举报的问题经核查不予立案")
    assert timeline.message_words(pages, "en", notice) == "No case was opened on your report after verification"
    declined = pb.ReporterMessage(action="declined", data={"on": "2026-03-02"})
    assert timeline.message_words(pages, "zh", declined) == "2026-03-02 不予立案"
    assert timeline.entry_words(pages, "zh", pb.TimelineEntry(action="declined", data={
        "on": "2026-03-02", "reason": "证据不足"})) == "2026-03-02 不予立案：证据不足"  # staff read the reason
    assert timeline.message_words(pages, "en", pb.ReporterMessage(text="已立案调查")) == "已立案调查"
