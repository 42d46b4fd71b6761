"""The statutory public holidays (法定节假日) by law (全国年节及纪念日放假办法), year by year.

The law fixes which days are holidays: 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节, some of
them on the lunar calendar (农历) or a solar term (节气). The State Council's yearly notice only
adds bridging days and make-up working weekends (调休) around them. So a year whose notice is not
out yet still has known holidays: `statutory_holidays` computes them from the version of the law
in force (`rules/holidays.yaml`), with lunar-python for the lunar dates and solar terms, and the
working-day calendar counts a provisional year (暂定) on them alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from lunar_python import Lunar, Solar

from rules.statutes import RulesError, load_yaml

HOLIDAYS_FILE = Path(__file__).parent / "holidays.yaml"
_KINDS = ("solar", "lunar", "solar_term")


@dataclass(frozen=True)
class Festival:
    """One holiday of the law: where its first day falls in a year, and how many days it lasts."""

    name: str
    kind: str  # solar, lunar or solar_term
    month: int
    day: int
    offset: int  # days from the lunar or solar date (春节 from 除夕: -1)
    term: str  # the solar term's name, for kind solar_term
    days: int

    def dates(self, year: int) -> tuple[date, ...]:
        first = self._first_day(year) + timedelta(days=self.offset)
        return tuple(first + timedelta(days=k) for k in range(self.days))

    def _first_day(self, year: int) -> date:
        if self.kind == "solar":
            return date(year, self.month, self.day)
        if self.kind == "lunar":
            return _plain(Lunar.fromYmd(year, self.month, self.day).getSolar())
        # The lunar year that contains 1 July holds every solar term of the Gregorian year but
        # the first few: enough for 清明, the one the law names.
        return _plain(Solar.fromYmd(year, 7, 1).getLunar().getJieQiTable()[self.term])


@dataclass(frozen=True)
class LawVersion:
    effective_from: int
    source: str
    festivals: tuple[Festival, ...]


def statutory_holidays(year: int) -> dict[str, tuple[date, ...]]:
    """The holidays the law in force in `year` gives, by festival name, each with its days."""
    version = law_in_force(year)
    return {festival.name: festival.dates(year) for festival in version.festivals}


def law_in_force(year: int) -> LawVersion:
    """The newest version in force in `year`; the oldest version also stands for earlier years."""
    versions = _versions()
    in_force = [v for v in versions if v.effective_from <= year]
    return in_force[-1] if in_force else versions[0]


@cache
def _versions() -> tuple[LawVersion, ...]:
    raw = load_yaml(HOLIDAYS_FILE)
    versions = tuple(_version(item, f"{HOLIDAYS_FILE}: versions[{i}]") for i, item in enumerate(raw["versions"]))
    if [v.effective_from for v in versions] != sorted({v.effective_from for v in versions}):
        raise RulesError(f"{HOLIDAYS_FILE}: versions must be in order of effective_from, each year once")
    return versions


def _version(raw: Any, where: str) -> LawVersion:
    return LawVersion(effective_from=int(raw["effective_from"]), source=str(raw["source"]),
                      festivals=tuple(_festival(item, f"{where}.festivals[{i}]")
                                      for i, item in enumerate(raw["festivals"])))


def _festival(raw: Any, where: str) -> Festival:
    kinds = [kind for kind in _KINDS if kind in raw]
    if len(kinds) != 1:
        raise RulesError(f"{where}: a festival falls on exactly one of {', '.join(_KINDS)}")
    kind = kinds[0]
    days = raw.get("days")
    if not isinstance(days, int) or days < 1:
        raise RulesError(f"{where}: days must be a whole number >= 1")
    if kind == "solar_term":
        return Festival(str(raw["name"]), kind, 0, 0, 0, str(raw[kind]), days)
    spec = raw[kind]
    return Festival(str(raw["name"]), kind, int(spec["month"]), int(spec["day"]), int(spec.get("offset", 0)), "",
                    days)


def _plain(solar: Solar) -> date:
    return date(solar.getYear(), solar.getMonth(), solar.getDay())
