"""Statutory rules (法定期限与处罚规则) and the working-day calendar (工作日历): every deadline in
the suite is a `Period` from the versioned rules file, placed on dates by `WorkingDayCalendar`."""

from rules.statutes import (
    AnnualWindow,
    CreditRepair,
    Extension,
    ExtensionRefused,
    Hearing,
    Period,
    Publicity,
    Rules,
    RulesError,
    Surcharge,
    Text,
)
from rules.workdays import CalendarError, Pause, WorkingDayCalendar, YearSchedule

__all__ = [
    "AnnualWindow", "CalendarError", "CreditRepair", "Extension", "ExtensionRefused", "Hearing", "Pause",
    "Period", "Publicity", "Rules", "RulesError", "Surcharge", "Text", "WorkingDayCalendar",
    "YearSchedule",
]
