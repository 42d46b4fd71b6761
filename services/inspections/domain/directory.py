"""The inspector directory (执法检查人员名录库): what an exclusion (回避) must name, and the pool
a draw takes its inspectors from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.inspections.domain.draw import significant_prefix
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument

FORMER_EMPLOYER = "former_employer"  # 曾在该机构任职
RELATIVE = "relative"  # 近亲属
REGION_OF_ORIGIN = "region_of_origin"  # 籍贯回避
OTHER_INTEREST = "other_interest"  # 其他利害关系
REASONS = (FORMER_EMPLOYER, RELATIVE, REGION_OF_ORIGIN, OTHER_INTEREST)


def check_exclusion(reason: str, agency_credit_code: str, region_code: str) -> None:
    """A region-of-origin exclusion names a region (every agency there); every other reason
    names one agency."""
    if reason == REGION_OF_ORIGIN:
        problems = [] if region_code else [FieldViolation("region_code", "EXCLUSION_REGION_REQUIRED",
                                                          "is required for a region-of-origin exclusion")]
        if agency_credit_code:
            problems.append(FieldViolation("agency_credit_code", "EXCLUSION_AGENCY_NOT_FOR_REGION",
                                           "is not for a region-of-origin exclusion"))
    else:
        problems = [] if agency_credit_code else [FieldViolation("agency_credit_code", "EXCLUSION_AGENCY_REQUIRED",
                                                                 f"is required for a {reason} exclusion")]
        if region_code:
            problems.append(FieldViolation("region_code", "EXCLUSION_REGION_ONLY_FOR_ORIGIN",
                                           "is only for a region-of-origin exclusion"))
    if problems:
        raise InvalidArgument(problems)


def check_departure(already_left_on) -> None:
    """An inspector leaves the directory once; the entry stays, for the draws they were in."""
    if already_left_on is not None:
        raise FailedPrecondition("INSPECTOR_ALREADY_LEFT", f"the inspector left the directory on {already_left_on}",
                                 subject="inspector.left_on", left_on=already_left_on)


@dataclass(frozen=True)
class ExclusionEntry:
    agency_credit_code: str | None
    region_code: str | None


@dataclass(frozen=True)
class InspectorEntry:
    inspector_id: str
    region_code: str
    exclusions: tuple[ExclusionEntry, ...]


def in_regions(region_code: str, regions: Iterable[str]) -> bool:
    return any(region_code.startswith(significant_prefix(r)) for r in regions)


def pool_rows(inspectors: Iterable[InspectorEntry], regions: Iterable[str]) -> list[list]:
    """The pool of a plan: the inspectors whose office lies in its regions, each with the credit
    codes and regions they must not inspect (the reasons stay in the directory)."""
    regions = tuple(regions)
    return [[i.inspector_id, i.region_code,
             [e.agency_credit_code for e in i.exclusions if e.agency_credit_code],
             [e.region_code for e in i.exclusions if e.region_code]]
            for i in inspectors if in_regions(i.region_code, regions)]
