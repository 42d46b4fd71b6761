"""Reading the State Council's holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知) into a
year's working-day schedule (`rules/calendar/<year>.yaml`).

The notice is published each November in a fixed wording: one numbered item per festival
(一、元旦：…), giving the rest days (放假, 放假调休, 补休, 与周末连休), their total (共N天) and the
weekend days worked instead (调休上班, "…上班"). The operator copies it as published; this module
reads it and refuses, naming the line, anything it cannot read fully, because a misread day moves
every legal deadline around it. Nothing is guessed:
- a day's weekday in parentheses ((周四), (星期四), (农历腊月二十八、周日)) must agree with the date;
- a make-up working day (上班) must be a Saturday or a Sunday, and no day both rest and work;
- a declared total (共N天, 放假N天) must be the number of days read;
- every statutory holiday of the law in force (`rules.holidays`) must be a rest day of its item.

Dates are of the notice's year, except December dates in the 元旦 item, which belong to the year
before: the New Year block may start on 12-30 of the previous year (2019: "2018年12月30日至
2019年1月1日"; 2024: "1月1日放假，与周末连休" rests 2023-12-30 and 12-31 too). Such days are kept in
the reading but the file written for the year holds only that year's days, as the loader requires;
the calendar of the year before already has them from its own schedule."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from rules.holidays import statutory_holidays
from rules.workdays import ONE_DAY, CalendarError, WorkingDayCalendar

_WEEKDAY_NAMES = "一二三四五六日"  # 周一 … 周日, by date.weekday()
_NEW_YEAR = "元旦"

# Full-width digits and punctuation (全角) read as their half-width forms; 、 and 。 stay as they are.
_HALF_WIDTH = str.maketrans({**{chr(0xFF10 + k): str(k) for k in range(10)},
                             "：": ":", "，": ",", "（": "(", "）": ")", "；": ";", "．": ".", "\u3000": " "})
_TITLE = re.compile(r"国务院办公厅关于(\d{4})年部分节假日安排的通知")
_DOCUMENT_NUMBER = re.compile(r"国办发明电[〔\[(]\d{4}[〕\])]\d+号")
_ITEM_START = re.compile(r"[一二三四五六七八九十]+[、.,]")
_ITEM = re.compile(r"(?P<ordinal>[一二三四五六七八九十]+)[、.,](?P<names>[\u4e00-\u9fff]+(?:、[\u4e00-\u9fff]+)*):"
                   r"(?P<body>.+)")
_ORDINALS = "一 二 三 四 五 六 七 八 九 十 十一 十二".split()
# A line outside the numbered items that still names a day off or worked: an item that lost its number.
_UNNUMBERED_ITEM = re.compile(r"\d{1,2}月\d{1,2}日.*(放假|上班|调休|补休|连休)|(放假|上班|调休|补休|连休).*\d{1,2}月\d{1,2}日")
_DAY = re.compile(r"(?:(?P<year>\d{4})年)?(?:(?P<month>\d{1,2})月)?(?P<day>\d{1,2})日(?:\((?P<note>[^()]*)\))?")
_REST = re.compile(r"(?P<span>.+?)(?P<verb>放假调休|放假(?P<days>\d+)天|放假|与周末连休|补休)")
_TOTAL = re.compile(r"共(\d+)天")
_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")
_ADVICE = "鼓励"  # 鼓励各单位…安排职工在除夕休息 (2024): an encouragement, not a rest day


def _outside_parentheses(separators: str) -> re.Pattern[str]:
    """Separators that do not sit inside (…): a note like (农历腊月二十八、周日) is one piece."""
    return re.compile(rf"[{separators}](?![^()]*\))")


_SENTENCES = _outside_parentheses("。.;")
_CLAUSES = _outside_parentheses(",")
_LIST = _outside_parentheses("、,")


class NoticeError(ValueError):
    """The notice cannot be read fully or fails a check; `reason` says why, in Chinese."""

    def __init__(self, line_number: int, line: str, reason: str):
        self.line_number = line_number
        self.line = line
        self.reason = reason
        super().__init__(f"第{line_number}行: {line}: {reason}")


@dataclass(frozen=True)
class NoticeItem:
    """One numbered item of the notice: its festivals (国庆节、中秋节 share one), the rest days
    and the make-up working days it gives, and the total it declares (共N天), if any."""

    festivals: tuple[str, ...]
    rest_days: tuple[date, ...]
    workdays: tuple[date, ...]
    declared_total: int | None
    line: str
    line_number: int
    notes: tuple[str, ...] = ()  # sentences that change no day (鼓励…)

    @property
    def name(self) -> str:
        return "、".join(self.festivals)

    def summary(self) -> str:
        """One line for the operator: 春节 2027-02-05..2027-02-11 休 7天；上班 2027-02-14."""
        text = f"{self.name} {_runs_text(self.rest_days)} 休 {len(self.rest_days)}天"
        if self.workdays:
            text += "；上班 " + "、".join(day.isoformat() for day in self.workdays)
        return text + "".join(f"；注：{note}（不改变工作日）" for note in self.notes)


@dataclass(frozen=True)
class NoticeReading:
    """A notice as read: its year, its source (title and document number), its items, the text
    itself (kept beside the schedule file), and the statutory holidays it was checked against."""

    year: int
    source: str
    items: tuple[NoticeItem, ...]
    text: str
    statutory: Mapping[str, tuple[date, ...]]

    @property
    def rest_days(self) -> frozenset[date]:
        return frozenset(day for item in self.items for day in item.rest_days)

    @property
    def workdays(self) -> frozenset[date]:
        return frozenset(day for item in self.items for day in item.workdays)

    @property
    def other_years_days(self) -> tuple[date, ...]:
        """Days the notice names outside its year (12-30 before 元旦): not in the year's file."""
        return tuple(sorted(day for day in self.rest_days | self.workdays if day.year != self.year))

    @property
    def other_years_summary(self) -> str:
        """2023-12-30 休、2023-12-31 休: what the year's file leaves to the schedules of their years."""
        workdays = self.workdays
        return "、".join(f"{day.isoformat()} {'上班' if day in workdays else '休'}" for day in self.other_years_days)

    @property
    def checks(self) -> tuple[str, ...]:
        """What `read_notice` verified before it returned this reading, for the operator to see."""
        statutory = "；".join(f"{name} {_runs_text(days)}" for name, days in self.statutory.items())
        return ("每项所写天数（共N天、放假N天）与所列放假日期相符",
                "调休上班日均为周六或周日，没有一天既放假又上班",
                "括号中所注星期与日期相符",
                f"法定节假日均在其节日的放假日期内：{statutory}")

    def schedule_data(self) -> dict[str, Any]:
        """The year's schedule in the shape `rules.workdays` loads: rest days as single dates or
        YYYY-MM-DD..YYYY-MM-DD ranges, make-up working days, the source; this year's days only."""
        rest = [day for day in self.rest_days if day.year == self.year]
        return {"source": self.source,
                "holidays": [first if first == last else f"{first.isoformat()}..{last.isoformat()}"
                             for first, last in _runs(rest)],
                "workdays": sorted(day for day in self.workdays if day.year == self.year)}


@dataclass(frozen=True)
class _Line:
    """A line of the notice as the operator sees it, and its compact half-width form to parse."""

    number: int
    text: str

    @property
    def compact(self) -> str:
        return re.sub(r"\s+", "", self.text.translate(_HALF_WIDTH))

    def error(self, reason: str) -> NoticeError:
        return NoticeError(self.number, self.text.strip(), reason)


@dataclass
class _Draft:
    """An item while its sentences are read."""

    where: _Line
    year: int
    festivals: tuple[str, ...]
    rest_days: set[date] = field(default_factory=set)
    workdays: list[date] = field(default_factory=list)
    total: int | None = None
    with_weekend: bool = False
    no_make_up: bool = False
    notes: list[str] = field(default_factory=list)

    def year_of(self, month: int) -> int:
        return self.year - 1 if month == 12 and _NEW_YEAR in self.festivals else self.year


def read_notice(text: str, year: int | None = None) -> NoticeReading:
    """Read the notice as published. The year comes from its title; `year` stands in for a
    notice copied without its title. Raises NoticeError naming the line at the first problem."""
    text = text.removeprefix("\ufeff")
    lines = [_Line(number, line) for number, line in enumerate(text.splitlines(), start=1)]
    year, source, title = _header(lines, year)
    items = _items(lines, year)
    if not items:
        raise title.error(f"没有找到编号的节假日安排（一、元旦：…），无法得到{year}年的放假安排")
    _check_rest_or_work(items)
    statutory = statutory_holidays(year)
    _check_statutory(items, statutory, title)
    return NoticeReading(year, source, items, text, statutory)


def _header(lines: list[_Line], year: int | None) -> tuple[int, str, _Line]:
    """The year (from the title 关于YYYY年部分节假日安排的通知, else the argument), the source to
    record (title and document number 国办发明电〔…〕N号) and the line a whole-notice refusal names."""
    titles = [(line, match) for line in lines if (match := _TITLE.search(line.compact))]
    numbers = [match[0] for line in lines if (match := _DOCUMENT_NUMBER.search(line.compact))]
    if not titles:
        first = lines[0] if lines else _Line(1, "")
        if year is None:
            raise first.error("找不到标题“国务院办公厅关于YYYY年部分节假日安排的通知”，也没有指定年份")
        return year, _source(f"{year}年部分节假日安排的通知（未含标题，年份由导入时指定）", numbers), first
    title, match = titles[0]
    for other, other_match in titles[1:]:
        if other_match[1] != match[1]:
            raise other.error(f"第二个标题的年份{other_match[1]}与第{title.number}行的{match[1]}不同")
    if year is not None and int(match[1]) != year:
        raise title.error(f"标题的年份{match[1]}与指定的年份{year}不同")
    return int(match[1]), _source(match[0], numbers), title


def _source(title: str, numbers: list[str]) -> str:
    return title + (f"（{numbers[0]}）" if numbers else "")


def _items(lines: list[_Line], year: int) -> tuple[NoticeItem, ...]:
    """The numbered items in order; every other line (title, 经国务院批准…, 节假日期间…, the
    issuer and date) is not an item and is passed over, unless it names a day off or worked."""
    items: list[NoticeItem] = []
    for line in lines:
        compact = line.compact
        if _ITEM_START.match(compact):
            items.append(_item(line, year, len(items)))
        elif _UNNUMBERED_ITEM.search(compact):
            raise line.error("无法识别：像是放假安排却没有序号（一、二、…），可能是上一项断了行")
    seen: set[str] = set()
    for item in items:
        repeated = seen.intersection(item.festivals)
        if repeated:
            raise _Line(item.line_number, item.line).error(f"{'、'.join(sorted(repeated))}已在前面的项目中安排")
        seen.update(item.festivals)
    return tuple(items)


def _item(line: _Line, year: int, index: int) -> NoticeItem:
    match = _ITEM.fullmatch(line.compact)
    if not match:
        raise line.error("无法识别：项目应写作“序号、节日：日期…”")
    expected = _ORDINALS[index] if index < len(_ORDINALS) else None
    if match["ordinal"] != expected:
        raise line.error(f"序号为{match['ordinal']}，按顺序应为{expected or '（项目过多）'}：是否漏了一项？")
    draft = _Draft(line, year, tuple(match["names"].split("、")))
    for sentence in filter(None, _SENTENCES.split(match["body"])):
        _sentence(draft, sentence)
    return _finished(draft)


def _sentence(draft: _Draft, sentence: str) -> None:
    """One sentence of an item: an encouragement (鼓励…), a list of days worked (…上班), or
    clauses about rest days separated by commas."""
    if sentence.startswith(_ADVICE):
        draft.notes.append(sentence)
    elif sentence.endswith("上班"):
        pieces = _LIST.split(sentence.removesuffix("上班"))
        draft.workdays.extend(_single_day(draft, piece) for piece in pieces)
    else:
        for clause in _CLAUSES.split(sentence):
            _clause(draft, clause)


def _clause(draft: _Draft, clause: str) -> None:
    if total := _TOTAL.fullmatch(clause):
        if draft.total is not None:
            raise draft.where.error(f"天数写了两次：共{draft.total}天、{clause}")
        draft.total = int(total[1])
    elif clause == "与周末连休":
        draft.with_weekend = True
    elif clause == "不调休":
        draft.no_make_up = True
    elif rest := _REST.fullmatch(clause):
        days = _span(draft, rest["span"])
        if rest["days"] is not None and int(rest["days"]) != len(days):
            raise draft.where.error(f"写明放假{rest['days']}天，所列日期为{len(days)}天：{_runs_text(days)}")
        draft.rest_days.update(days)
        draft.with_weekend |= rest["verb"] == "与周末连休"
    else:
        raise draft.where.error(f"无法识别：{clause}")


def _span(draft: _Draft, text: str) -> list[date]:
    """A day (1月1日) or an inclusive range (1月1日至3日, 5月31日至6月2日, 12月30日至1月1日)."""
    pieces = text.split("至")
    first = _single_day(draft, pieces[0])
    if len(pieces) == 1:
        return [first]
    if len(pieces) > 2:
        raise draft.where.error(f"无法识别的日期范围：{text}")
    last = _day(draft, pieces[1], after=first)
    if last < first:
        raise draft.where.error(f"日期范围{text}的结束日早于开始日")
    return [first + ONE_DAY * k for k in range((last - first).days + 1)]


def _single_day(draft: _Draft, text: str) -> date:
    return _day(draft, text, after=None)


def _day(draft: _Draft, text: str, after: date | None) -> date:
    """A date as written: [YYYY年]M月D日 with an optional note in parentheses. The end of a range
    may omit the month (至3日) and then lies after `after`, in the next year if its month is earlier."""
    match = _DAY.fullmatch(text)
    if not match or (after is None and match["month"] is None):
        raise draft.where.error(f"无法识别日期：{text}")
    month = int(match["month"]) if match["month"] else after.month
    if match["year"]:
        year = int(match["year"])
    elif after is not None:
        year = after.year if month >= after.month else after.year + 1
    else:
        year = draft.year_of(month)
    try:
        day = date(year, month, int(match["day"]))
    except ValueError:
        raise draft.where.error(f"日期不存在：{text}") from None
    _check_weekday(draft.where, day, match["note"])
    return day


def _check_weekday(where: _Line, day: date, note: str | None) -> None:
    """The note (周四) or (农历腊月二十八、周日): the lunar date is not read, the weekday must agree."""
    for piece in _LIST.split(note) if note is not None else ():
        if piece.startswith("农历"):
            continue
        match = _WEEKDAY.fullmatch(piece)
        if not match:
            raise where.error(f"括号中无法识别：{piece}")
        if _WEEKDAY_NAMES.index(match[1].replace("天", "日")) != day.weekday():
            raise where.error(f"{_day_text(day)}是{_weekday(day)}，通知写作{piece}")


def _finished(draft: _Draft) -> NoticeItem:
    where = draft.where
    if not draft.rest_days:
        raise where.error("无法识别：没有放假日期")
    rest = _joined_with_weekend(where, draft.rest_days) if draft.with_weekend else draft.rest_days
    if draft.total is not None and draft.total != len(rest):
        raise where.error(f"写明共{draft.total}天，所列放假日期为{len(rest)}天：{_runs_text(rest)}")
    if draft.no_make_up and draft.workdays:
        raise where.error("写明不调休，却列有上班日")
    for day in draft.workdays:
        if day.weekday() < 5:
            raise where.error(f"调休上班日{_day_text(day)}是{_weekday(day)}，不是周六或周日")
    return NoticeItem(draft.festivals, tuple(sorted(rest)), tuple(sorted(set(draft.workdays))), draft.total,
                      where.text.strip(), where.number, tuple(draft.notes))


def _joined_with_weekend(where: _Line, days: set[date]) -> set[date]:
    """与周末连休: the rest days together with the Saturdays and Sundays next to them."""
    joined = set(days)
    for day in days:
        for step in (-ONE_DAY, ONE_DAY):
            neighbour = day + step
            while neighbour.weekday() >= 5:
                joined.add(neighbour)
                neighbour += step
    if joined == days:
        raise where.error(f"写明与周末连休，但{_runs_text(days)}不与周末相邻")
    return joined


def _check_rest_or_work(items: tuple[NoticeItem, ...]) -> None:
    rest = {day for item in items for day in item.rest_days}
    for item in items:
        for day in item.workdays:
            if day in rest:
                raise _Line(item.line_number, item.line).error(f"{_day_text(day)}既是放假日又是上班日")


def _check_statutory(items: tuple[NoticeItem, ...], statutory: Mapping[str, tuple[date, ...]], title: _Line) -> None:
    """Each festival of the law has an item, and each of its statutory days is a rest day there."""
    by_festival = {festival: item for item in items for festival in item.festivals}
    for festival, days in statutory.items():
        item = by_festival.get(festival)
        if item is None:
            raise title.error(f"通知缺少法定节日{festival}（法定假日 {_runs_text(days)}）")
        for day in days:
            if day not in item.rest_days:
                raise _Line(item.line_number, item.line).error(
                    f"{festival}的法定假日{_day_text(day)}（{_weekday(day)}）不在放假日期内")


def write_calendar_file(reading: NoticeReading, directory: Path, replace: bool = False) -> Path:
    """Write `<year>.yaml` into `directory`, with the notice as read beside it
    (`<year>.notice.txt`), then load the directory as the calendar does to prove the file reads.
    A different file already there is kept unless `replace` (importing the same notice again is
    harmless); a `<year>.yml` would make a second schedule for the year, so it is refused."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CalendarError(f"calendar directory {directory} does not exist")
    schedule = directory / f"{reading.year}.yaml"
    if (directory / f"{reading.year}.yml").exists():
        raise FileExistsError(f"{directory / f'{reading.year}.yml'} already holds {reading.year}: remove it first")
    files = {directory / f"{reading.year}.notice.txt": reading.text.encode("utf-8"),
             schedule: _schedule_text(reading).encode("utf-8")}
    different = [path for path, content in files.items() if path.exists() and path.read_bytes() != content]
    if different and not replace:
        raise FileExistsError(f"{different[0]} already exists with other content: --replace to overwrite it")
    for path, content in files.items():  # the notice first: the schedule is never there without its source
        _write_whole(path, content)
    _check_loads(reading, directory)
    return schedule


def _schedule_text(reading: NoticeReading) -> str:
    header = [f"# {reading.year}年放假安排：由 ipss calendar import 读自{reading.source}，",
              f"# 原文见同目录 {reading.year}.notice.txt。Import the notice again rather than editing this file."]
    if reading.other_years_days:
        header.append(f"# 通知所列{reading.year}年以外的日期不在本文件（归其所属年份）：{reading.other_years_summary}")
    data = yaml.safe_dump(reading.schedule_data(), allow_unicode=True, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + data


def _write_whole(path: Path, content: bytes) -> None:
    """Replace the file in one step, so that a reader never sees half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    os.replace(partial, path)


def _check_loads(reading: NoticeReading, directory: Path) -> None:
    """Load the directory as the calendar does: the file must give exactly the year's days read."""
    loaded = WorkingDayCalendar.load([directory]).schedules[reading.year]
    in_year = {day for day in reading.rest_days | reading.workdays if day.year == reading.year}
    if (loaded.holidays, loaded.workdays) != (in_year - reading.workdays, in_year & reading.workdays):
        raise CalendarError(f"{directory / f'{reading.year}.yaml'} does not load back as the notice was read")


def _runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + ONE_DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _runs_text(days: Iterable[date]) -> str:
    return "、".join(first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
                    for first, last in _runs(days))


def _day_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _weekday(day: date) -> str:
    return "周" + _WEEKDAY_NAMES[day.weekday()]
