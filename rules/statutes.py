"""The statutory rules (法定期限与处罚规则): every period a case is timed by and the figures
around them (late-payment surcharge, hearing thresholds, publicity), read from
`rules/periods.yaml` and validated when loaded.

A case keeps the rules version it was opened under: the current file holds the newest version
and `rules/history/<version>.yaml` the earlier ones, so `Rules.load_version` finds any of them.
Rules travel into Temporal workflows as plain data (`to_data` / `from_data`), which goes through
the same validation as the file. Dates are computed from a `Period` by
`rules.workdays.WorkingDayCalendar.deadline`. Money is whole yuan in the rules and fen (分) in
the helpers that take an amount, so no arithmetic is ever done on floats."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).parent  # not resolve(): the Temporal sandbox forbids it at import
PERIODS_FILE = RULES_DIR / "periods.yaml"
HISTORY_DIRNAME = "history"

UNITS = ("working_days", "calendar_days", "months", "years")
APPROVERS = ("supervisor", "collective_decision")  # 负责人批准 / 负责人集体讨论决定
PARTY_KINDS = ("person", "organisation")  # 自然人 / 法人或者其他组织
DIRECTIONS = ("after", "before")

# The periods and windows the suite's code names; a rules version without one of them could
# not time a case, so it is refused at load time rather than in the middle of a case.
REQUIRED_PERIODS = (
    "verify_and_open", "limitation_period", "notify_reporter_of_opening", "duplicate_merge_window",
    "consumer_accept", "consumer_mediation", "decide_ordinary_case", "statement_and_defence",
    "hearing_request", "hearing_notice", "serve_absent_party", "pay_fine", "reconsideration_window",
    "litigation_window", "publish_penalty", "withdraw_publication", "publicity_low", "publicity_standard",
    "credit_repair_after", "publish_inspection_result", "abnormal_list_to_serious", "serious_violation_list",
    "serious_violation_early_removal",
)
REQUIRED_WINDOWS = ("annual_report_window",)

_ID = re.compile(r"[a-z][a-z0-9_]*")
_VERSION = re.compile(r"\d{4}\.\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")


class RulesError(ValueError):
    """The rules file or data is invalid; the message says where and why."""


class ExtensionRefused(ValueError):
    """The rules allow no such extension of a period."""


@dataclass(frozen=True)
class Text:
    zh: str
    en: str


@dataclass(frozen=True)
class Extension:
    """One rung of a period's extension ladder (延长期限)."""

    approved_by: str
    length: int | None  # None: the approving decision fixes it (集体讨论决定合理期限)
    times: int | None  # None: no limit in the rules


@dataclass(frozen=True)
class Period:
    id: str
    length: int
    unit: str
    extensions: tuple[Extension, ...]
    suspended_by: tuple[str, ...]
    counts: str  # "after" the start event, or "before" it (a latest date ahead of an event)
    roll_forward: bool  # a last day on a rest day moves to the next working day
    legal_source: str
    description: Text

    def extension_length(self, approved_by: str, granted: Sequence[str] = (), length: int | None = None) -> int:
        """The length, in this period's unit, that one more extension approved by `approved_by`
        adds, given the approvers of the extensions already granted, in order. A rung is open only
        once the rungs before it are used up. `length` is required where the rules leave it to
        the approving decision and must agree where they fix it."""
        rung, used = 0, 0
        for approver in (*granted, approved_by):
            while rung < len(self.extensions) and self.extensions[rung].times is not None \
                    and used >= self.extensions[rung].times:
                rung, used = rung + 1, 0
            if rung == len(self.extensions) or self.extensions[rung].approved_by != approver:
                open_to = self.extensions[rung].approved_by if rung < len(self.extensions) else "nobody"
                raise ExtensionRefused(f"{self.id}: with extensions by {list(granted)} granted, the next is for "
                                       f"{open_to} to approve, not {approver}")
            used += 1
        fixed = self.extensions[rung].length
        if fixed is None:
            if length is None or length <= 0:
                raise ExtensionRefused(f"{self.id}: an extension by {approved_by} needs the length it fixes")
            return length
        if length is not None and length != fixed:
            raise ExtensionRefused(f"{self.id}: an extension by {approved_by} is {fixed} {self.unit}, not {length}")
        return fixed


@dataclass(frozen=True)
class AnnualWindow:
    """A fixed window each year (e.g. 1–31 March for the previous year's annual report)."""

    id: str
    opens: str  # MM-DD
    closes: str  # MM-DD
    legal_source: str
    description: Text

    def for_year(self, year: int) -> tuple[date, date]:
        """First and last day of the window in `year`, both included."""
        return _month_day(year, self.opens), _month_day(year, self.closes)

    def day_after(self, year: int) -> date:
        """The first day after the window of `year` (when those who missed it are listed)."""
        return self.for_year(year)[1] + timedelta(days=1)


@dataclass(frozen=True)
class Surcharge:
    """Late payment of a fine (加处罚款), counted from the day after the payment deadline."""

    percent_per_day: int
    cap_percent_of_fine: int
    paused_during: tuple[str, ...]
    legal_source: str
    description: Text

    def accrued(self, fine_fen: int, days_late: int) -> int:
        """Surcharge in fen after `days_late` counted days (paused days already left out),
        rounded down to the fen and never above the cap."""
        if fine_fen < 0 or days_late < 0:
            raise ValueError("fine and days late must not be negative")
        return min(fine_fen * self.percent_per_day * days_late // 100, fine_fen * self.cap_percent_of_fine // 100)

    def owed_on(self, fine_fen: int, due_on: date, until: date, paused: Iterable[tuple[date, date | None]] = ()) -> int:
        """Surcharge in fen on `until` for a fine due on `due_on`: every day after the due day up
        to `until`, except the days a review was pending, [start, end] with end None while it still
        is (行政处罚法 art. 73)."""
        return self.accrued(fine_fen, days_late(due_on, until, paused))


def days_late(due_on: date, until: date, paused: Iterable[tuple[date, date | None]] = ()) -> int:
    """Days after `due_on` up to `until` that are not within a pause [start, end] (end None: open)."""
    spans = tuple(paused)
    days, day = 0, due_on + timedelta(days=1)
    while day <= until:
        if not any(start <= day and (end is None or day <= end) for start, end in spans):
            days += 1
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Hearing:
    """When the party may request a hearing (听证)."""

    measures: tuple[str, ...]
    amount_at_least_yuan: dict[str, int]  # by party kind; for a fine or a confiscated value
    legal_source: str
    description: Text

    def available(self, party_kind: str, measures: Iterable[str], fine_fen: int = 0, confiscated_fen: int = 0) -> bool:
        if party_kind not in self.amount_at_least_yuan:
            raise ValueError(f"party kind {party_kind!r} is not one of {', '.join(PARTY_KINDS)}")
        threshold_fen = self.amount_at_least_yuan[party_kind] * 100
        return bool(set(measures) & set(self.measures)) or max(fine_fen, confiscated_fen) >= threshold_fen


@dataclass(frozen=True)
class Publicity:
    """How long a published penalty stays public (公示期)."""

    not_published_alone: tuple[str, ...]
    short_measures: tuple[str, ...]
    low_fine_below_yuan: int
    short_period: str
    standard_period: str
    legal_source: str
    description: Text

    def period_id(self, measures: Iterable[str], fine_fen: int = 0) -> str | None:
        """The publicity period's id for a decision, or None when it is not published at all.
        Where a restriction (e.g. a practice ban) lasts longer, its period applies instead."""
        chosen = set(measures)
        if "fine" in chosen and fine_fen <= 0:
            raise ValueError("a decision with a fine needs its amount")
        if not chosen or chosen <= set(self.not_published_alone):
            return None
        light = set(self.not_published_alone) | set(self.short_measures)
        if fine_fen < self.low_fine_below_yuan * 100:
            light.add("fine")
        return self.short_period if chosen <= light else self.standard_period


@dataclass(frozen=True)
class CreditRepair:
    excluded_measures: tuple[str, ...]
    legal_source: str
    description: Text

    def allowed_after(self, measures: Iterable[str]) -> bool:
        return not set(measures) & set(self.excluded_measures)


@dataclass(frozen=True)
class Rules:
    version: str
    effective_from: date
    periods: dict[str, Period]
    windows: dict[str, AnnualWindow]
    surcharge: Surcharge
    hearing: Hearing
    publicity: Publicity
    credit_repair: CreditRepair
    warning_percent: int
    suspending_events: dict[str, Text]
    measures: dict[str, Text]

    @classmethod
    def load(cls, path: Path | None = None) -> Rules:
        """The rules in `path` (default: the current `rules/periods.yaml`)."""
        path = Path(path) if path is not None else PERIODS_FILE
        try:
            raw = load_yaml(path)
        except (OSError, yaml.YAMLError) as error:
            raise RulesError(f"rules file {path}: {error}") from error
        return cls.from_data(raw, source=str(path))

    @classmethod
    def load_version(cls, version: str, directory: Path | None = None) -> Rules:
        """The rules of `version`: the current file's if it is that version, else the copy kept
        in `history/<version>.yaml` under `directory` (default: this package)."""
        directory = Path(directory) if directory is not None else RULES_DIR
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise RulesError(f"rules version {version!r} is not of the form YYYY.N")
        current = cls.load(directory / PERIODS_FILE.name)
        if current.version == version:
            return current
        kept = directory / HISTORY_DIRNAME / f"{version}.yaml"
        if not kept.is_file():
            raise RulesError(f"rules version {version!r} is not kept: the current version is {current.version!r} "
                             f"and {kept} does not exist")
        rules = cls.load(kept)
        if rules.version != version:
            raise RulesError(f"{kept} holds version {rules.version!r}, not {version!r}")
        return rules

    @classmethod
    def from_data(cls, data: Any, source: str = "rules data") -> Rules:
        return _parse_rules(data, source)

    # The same answers as the sections' own methods, with the measure names checked against
    # this version's vocabulary: a misspelt measure must not quietly count as no measure.
    def hearing_available(self, party_kind: str, measures: Iterable[str], fine_fen: int = 0,
                          confiscated_fen: int = 0) -> bool:
        return self.hearing.available(party_kind, self._measures(measures), fine_fen, confiscated_fen)

    def publicity_period(self, measures: Iterable[str], fine_fen: int = 0) -> Period | None:
        period_id = self.publicity.period_id(self._measures(measures), fine_fen)
        return self.periods[period_id] if period_id else None

    def credit_repair_allowed(self, measures: Iterable[str]) -> bool:
        return self.credit_repair.allowed_after(self._measures(measures))

    def _measures(self, measures: Iterable[str]) -> set[str]:
        chosen = set(measures)
        unknown = sorted(chosen - set(self.measures))
        if unknown:
            raise ValueError(f"unknown measure {', '.join(unknown)} (known: {', '.join(self.measures)})")
        return chosen

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-ready data in the file's own shape; `from_data` reads it back equal."""
        data = _plain(self)
        data["periods"] = list(data["periods"].values())
        data["windows"] = list(data["windows"].values())
        return data


def load_yaml(path: Path) -> Any:
    """YAML that refuses a key given twice (plain PyYAML keeps the last one silently)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader


class _StrictLoader(yaml.SafeLoader):
    pass


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def _plain(value: Any) -> Any:
    if is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _field_names(shape: type) -> tuple[str, ...]:
    """The file uses the dataclasses' field names, so `to_data` output reads back as a file."""
    return tuple(f.name for f in fields(shape))


def _month_day(year: int, month_day: str) -> date:
    month, day = (int(part) for part in _MONTH_DAY.fullmatch(month_day).groups())
    return date(year, month, day)


_MISSING = object()


class _Entry:
    """One mapping of the rules file, read field by field with errors that say where."""

    def __init__(self, raw: Any, where: str, known: Sequence[str]):
        if not isinstance(raw, Mapping):
            raise RulesError(f"{where}: expected a mapping, got {type(raw).__name__}")
        unknown = sorted(str(key) for key in raw if key not in known)
        if unknown:
            raise RulesError(f"{where}: unknown field {', '.join(unknown)} (known: {', '.join(known)})")
        self.raw, self.where = raw, where

    def _get(self, key: str, default: Any) -> Any:
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise RulesError(f"{self.where}: missing field {key!r}")
        return default

    def fail(self, key: str, problem: str) -> RulesError:
        return RulesError(f"{self.where}.{key}: {problem}")

    def text(self, key: str) -> str:
        value = self._get(key, _MISSING)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected non-empty text, got {value!r}")
        return value

    def ident(self, key: str) -> str:
        value = self.text(key)
        if not _ID.fullmatch(value):
            raise self.fail(key, f"{value!r} is not a snake_case id")
        return value

    def count(self, key: str, default: Any = _MISSING, nullable: bool = False, minimum: int = 1) -> int | None:
        value = self._get(key, default)
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, options: Sequence[str], default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if value not in options:
            raise self.fail(key, f"{value!r} is not one of {', '.join(options)}")
        return value

    def day(self, key: str) -> date:
        value = self._get(key, _MISSING)
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, date):
            raise self.fail(key, f"expected a date YYYY-MM-DD, got {value!r}")
        return value

    def names(self, key: str, vocabulary: Iterable[str], default: Any = _MISSING) -> tuple[str, ...]:
        value = self.sequence(key, default)
        vocabulary = tuple(vocabulary)
        strange = [name for name in value if name not in vocabulary]
        if strange:
            raise self.fail(key, f"unknown {', '.join(map(repr, strange))} (known: {', '.join(vocabulary)})")
        if len(set(value)) != len(value):
            raise self.fail(key, "a name is listed twice")
        return tuple(value)

    def sequence(self, key: str, default: Any = _MISSING) -> list:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {value!r}")
        return value

    def bilingual(self, key: str) -> Text:
        entry = _Entry(self._get(key, _MISSING), f"{self.where}.{key}", ("zh", "en"))
        return Text(zh=entry.text("zh"), en=entry.text("en"))

    def vocabulary(self, key: str) -> dict[str, Text]:
        raw = self._get(key, _MISSING)
        if not isinstance(raw, Mapping) or not raw:
            raise self.fail(key, "expected a non-empty mapping of id to {zh, en}")
        entries = _Entry(raw, f"{self.where}.{key}", tuple(raw))
        strange = [name for name in raw if not isinstance(name, str) or not _ID.fullmatch(name)]
        if strange:
            raise self.fail(key, f"{', '.join(map(repr, strange))} is not a snake_case id")
        return {name: entries.bilingual(name) for name in raw}

    def section(self, key: str, known: Sequence[str]) -> _Entry:
        return _Entry(self._get(key, _MISSING), f"{self.where}.{key}", known)


def _parse_rules(data: Any, source: str) -> Rules:
    top = _Entry(data, source, _field_names(Rules))
    version = top.text("version")
    if not _VERSION.fullmatch(version):
        raise top.fail("version", f"{version!r} is not of the form YYYY.N, e.g. 2026.1")
    events = top.vocabulary("suspending_events")
    measures = top.vocabulary("measures")
    if "fine" not in measures:
        raise top.fail("measures", "missing fine, which the publicity rule weighs by amount")
    periods = _keyed(top, "periods", lambda raw, where: _period(raw, where, events))
    windows = _keyed(top, "windows", _window)
    for key, required, found in (("periods", REQUIRED_PERIODS, periods), ("windows", REQUIRED_WINDOWS, windows)):
        missing = [name for name in required if name not in found]
        if missing:
            raise top.fail(key, f"missing {', '.join(missing)}")
    return Rules(
        version=version,
        effective_from=top.day("effective_from"),
        periods=periods,
        windows=windows,
        surcharge=_surcharge(top.section("surcharge", _field_names(Surcharge)), events),
        hearing=_hearing(top.section("hearing", _field_names(Hearing)), measures),
        publicity=_publicity(top.section("publicity", _field_names(Publicity)), measures, periods),
        credit_repair=_credit_repair(top.section("credit_repair", _field_names(CreditRepair)), measures),
        warning_percent=_percent(top, "warning_percent"),
        suspending_events=events,
        measures=measures,
    )


def _keyed(top: _Entry, key: str, parse) -> dict:
    found: dict = {}
    for index, raw in enumerate(top.sequence(key)):
        item = parse(raw, f"{top.where}.{key}[{index}]")
        if item.id in found:
            raise top.fail(key, f"id {item.id!r} appears twice")
        found[item.id] = item
    return found


def _percent(entry: _Entry, key: str) -> int:
    value = entry.count(key)
    if value > 100:
        raise entry.fail(key, f"a percentage is at most 100, got {value}")
    return value


def _period(raw: Any, where: str, events: Mapping[str, Text]) -> Period:
    entry = _Entry(raw, where, _field_names(Period))
    period_id = entry.ident("id")
    entry.where = f"{where} ({period_id})"
    unit = entry.choice("unit", UNITS)
    counts = entry.choice("counts", DIRECTIONS, default="after")
    if counts == "before" and unit != "working_days":
        raise entry.fail("counts", "only a period in working_days may count before its event")
    extensions = tuple(_extension(item, f"{entry.where}.extensions[{index}]", unit)
                       for index, item in enumerate(entry.sequence("extensions", default=[])))
    if any(rung.times is None for rung in extensions[:-1]):
        raise entry.fail("extensions", "only the last rung may have no limit on times; later rungs could never open")
    return Period(id=period_id, length=entry.count("length"), unit=unit, extensions=extensions,
                  suspended_by=entry.names("suspended_by", events, default=[]), counts=counts,
                  roll_forward=entry.flag("roll_forward", True), legal_source=entry.text("legal_source"),
                  description=entry.bilingual("description"))


def _extension(raw: Any, where: str, unit: str) -> Extension:
    entry = _Entry(raw, where, ("approved_by", "length", "times", "unit"))
    entry.choice("unit", (unit,), default=unit)  # an extension runs in its period's unit
    return Extension(approved_by=entry.choice("approved_by", APPROVERS),
                     length=entry.count("length", nullable=True), times=entry.count("times", nullable=True))


def _window(raw: Any, where: str) -> AnnualWindow:
    entry = _Entry(raw, where, _field_names(AnnualWindow))
    window_id = entry.ident("id")
    entry.where = f"{where} ({window_id})"
    bounds = {}
    for key in ("opens", "closes"):
        value = entry.text(key)
        try:
            _month_day(2023, value)  # a common year: 02-29 is not a day of every year
        except (AttributeError, ValueError):
            raise entry.fail(key, f"{value!r} is not a day of every year as MM-DD") from None
        bounds[key] = value
    if _month_day(2023, bounds["opens"]) > _month_day(2023, bounds["closes"]):
        raise entry.fail("closes", "the window closes before it opens")
    return AnnualWindow(id=window_id, opens=bounds["opens"], closes=bounds["closes"],
                        legal_source=entry.text("legal_source"), description=entry.bilingual("description"))


def _surcharge(entry: _Entry, events: Mapping[str, Text]) -> Surcharge:
    return Surcharge(percent_per_day=_percent(entry, "percent_per_day"),
                     cap_percent_of_fine=entry.count("cap_percent_of_fine"),
                     paused_during=entry.names("paused_during", events),
                     legal_source=entry.text("legal_source"), description=entry.bilingual("description"))


def _hearing(entry: _Entry, measures: Mapping[str, Text]) -> Hearing:
    amounts = entry.section("amount_at_least_yuan", PARTY_KINDS)
    return Hearing(measures=entry.names("measures", measures),
                   amount_at_least_yuan={kind: amounts.count(kind) for kind in PARTY_KINDS},
                   legal_source=entry.text("legal_source"), description=entry.bilingual("description"))


def _publicity(entry: _Entry, measures: Mapping[str, Text], periods: Mapping[str, Period]) -> Publicity:
    return Publicity(not_published_alone=entry.names("not_published_alone", measures),
                     short_measures=entry.names("short_measures", measures),
                     low_fine_below_yuan=entry.count("low_fine_below_yuan"),
                     short_period=entry.choice("short_period", tuple(periods)),
                     standard_period=entry.choice("standard_period", tuple(periods)),
                     legal_source=entry.text("legal_source"), description=entry.bilingual("description"))


def _credit_repair(entry: _Entry, measures: Mapping[str, Text]) -> CreditRepair:
    return CreditRepair(excluded_measures=entry.names("excluded_measures", measures),
                        legal_source=entry.text("legal_source"), description=entry.bilingual("description"))
