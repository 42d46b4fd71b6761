"""What crosses the CreditLists workflow's boundary (信用名录管理): how it starts, and the view an
operator queries in the Temporal UI. Plain dataclasses, carried by Temporal's JSON converter."""

from __future__ import annotations

from dataclasses import dataclass

CREDIT_LISTS_WORKFLOW = "CreditLists"
# One for the office: the worker starts it when it starts, and finds it running afterwards.
WORKFLOW_ID = "credit-lists"
VIEW_QUERY = "view"


@dataclass
class CreditListsState:
    """Where the lists' clocks stand; the workflow carries it into its next run."""

    # The last report year whose non-filers are listed (or whose listing day had passed before the
    # office ran this workflow); 0 on the first start: decided from the day it starts.
    listed_through_year: int = 0
    # As in a case (CaseStart.calendar_offset_days): zero in production.
    calendar_offset_days: int = 0


@dataclass
class CreditListsView:
    listed_through_year: int
    next_listing_on: str  # the next listing day (the day after the annual-report window)
    next_move_on: str  # the next day an agency moves to the serious-violation list, "" if none
    wakes_on: str
    last_listed: int = 0  # agencies listed on the last listing day
    last_moved: int = 0  # agencies moved on the last day any were
