"""What crosses the association-discipline workflow's boundary (行业自律惩戒记入信用记录): the
measure an association reports about a member, and the view an operator or the linkage endpoint
queries. Plain dataclasses, carried by Temporal's JSON converter."""

from __future__ import annotations

from dataclasses import dataclass

DISCIPLINE_WORKFLOW = "AssociationDiscipline"
VIEW_QUERY = "view"
# The measures, as words of DisciplineMeasure in the registry's proto.
MEASURES = ("warning", "circulated_criticism", "public_censure", "membership_revoked")


def workflow_id(association_id: str, document_number: str) -> str:
    """One workflow per decision document: reporting the same number again finds it."""
    return f"association-discipline-{association_id}-{document_number}"


@dataclass
class DisciplineReport:
    """A disciplinary measure an association took against its member (处分决定)."""

    association_id: str
    agency_id: str
    measure: str  # one of MEASURES
    document_number: str
    decided_on: str  # YYYY-MM-DD
    # As in a case (CaseStart.calendar_offset_days): zero in production.
    calendar_offset_days: int = 0


@dataclass
class DisciplineView:
    """Where the measure stands: recorded on the credit record, public until, publicity ended."""

    stage: str  # planning, recording, public, ended; refused when the registry would not record it
    publicity_period: str = ""
    publicity_ends_on: str = ""
    provisional: bool = False
    credit_event_id: str = ""
    # Why the registry refused it (stage refused).
    refused_because: str = ""
