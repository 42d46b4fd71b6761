"""What makes an inspection plan (抽查计划), a campaign (专项整治) and a seed acceptable, and
how plans, campaigns and tasks are named."""

from __future__ import annotations

import base64
import secrets
import unicodedata
from collections.abc import Sequence
from datetime import date

from services.inspections.domain.draw import RISK_CLASSES, PlanSpec, Ratio, significant_prefix
from suite.codes import region_code_problem
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument

RANDOM_INSPECTION = "random_inspection"  # 双随机抽查
SPECIAL_RECTIFICATION = "special_rectification"  # 专项整治

DRAFT, SNAPSHOT_TAKEN, DRAWN = "draft", "snapshot_taken", "drawn"
RUNNING, ENDED, CLOSED_EARLY = "running", "ended", "closed_early"


def plan_id(year: int, number: int) -> str:
    """The sequential ids plans had before (plan-2026-0007); they still name those plans."""
    return f"plan-{year}-{number:04d}"


def new_plan_id(year: int) -> str:
    """plan-2026-k3q7x2m9vd5hwt8c: 80 random bits in lower-case base32, so that nobody learns of a
    plan, or when the next is due, by trying the numbers after a known one."""
    return f"plan-{year}-{base64.b32encode(secrets.token_bytes(10)).decode().lower()}"


def campaign_id(year: int, number: int) -> str:
    return f"campaign-{year}-{number:04d}"


def task_id(campaign: str, credit_code: str) -> str:
    """inspection-campaign-2026-0003-91110108MA01ABCD1X: readable, and one task per agency and campaign."""
    return f"inspection-{campaign}-{credit_code}"


def check_plan(regions: Sequence[str], kinds: Sequence[str], all_in_scope: bool, ratios: Sequence[Ratio],
               inspectors_per_target: int) -> PlanSpec:
    """A plan's scope and ratios: regions that are division codes and do not overlap; with
    `all_in_scope` no ratios; otherwise a ratio for any kind and any region in every risk class,
    rising with the risk (higher risk, higher ratio), and specific ratios inside the scope."""
    problems: list[FieldViolation] = []
    for index, region in enumerate(regions):
        problem = region_code_problem(region)
        if problem:
            problems.append(FieldViolation(f"region_codes[{index}]", problem.reason, problem.description))
    if not problems:
        for index, region in enumerate(regions):
            for other in regions[:index]:
                a, b = significant_prefix(region), significant_prefix(other)
                if a.startswith(b) or b.startswith(a):
                    problems.append(FieldViolation(f"region_codes[{index}]", "REGIONS_OVERLAP", f"overlaps {other}",
                                                   {"other": other}))
    if len(set(kinds)) != len(kinds):
        problems.append(FieldViolation("kinds", "NAMED_TWICE", "names a kind twice"))
    if all_in_scope:
        if ratios:
            problems.append(FieldViolation("ratios", "RATIOS_WITH_ALL_IN_SCOPE",
                                           "must be empty when all_in_scope is set"))
    else:
        problems.extend(_ratio_problems(ratios, regions, kinds))
    if problems:
        raise InvalidArgument(problems)
    return PlanSpec(plan_id="", regions=tuple(regions), kinds=tuple(kinds), all_in_scope=all_in_scope,
                    ratios=tuple(ratios), inspectors_per_target=inspectors_per_target)


def _ratio_problems(ratios: Sequence[Ratio], regions: Sequence[str], kinds: Sequence[str]) -> list[FieldViolation]:
    if not ratios:
        return [FieldViolation("ratios", "RATIOS_REQUIRED", "are required unless all_in_scope is set")]
    problems = []
    seen: set[tuple[str, str, str]] = set()
    for index, ratio in enumerate(ratios):
        key = (ratio.risk, ratio.kind, ratio.region_code)
        if key in seen:
            problems.append(FieldViolation(f"ratios[{index}]", "RATIO_REPEATED",
                                           "repeats a ratio for the same risk, kind and region"))
        seen.add(key)
        if ratio.region_code and not any(significant_prefix(ratio.region_code).startswith(significant_prefix(r))
                                         for r in regions):
            problems.append(FieldViolation(f"ratios[{index}].region_code", "RATIO_REGION_OUTSIDE_PLAN",
                                           "lies outside the plan's regions"))
        if ratio.kind and kinds and ratio.kind not in kinds:
            problems.append(FieldViolation(f"ratios[{index}].kind", "RATIO_KIND_OUTSIDE_PLAN",
                                           "is not a kind of the plan"))
    defaults = {r.risk: r.basis_points for r in ratios if not r.kind and not r.region_code}
    missing = [risk for risk in RISK_CLASSES if risk not in defaults]
    if missing:
        listed = ", ".join(missing)
        problems.append(FieldViolation("ratios", "DEFAULT_RATIOS_MISSING",
                                       f"need a ratio for any kind and any region in risk class(es) {listed}",
                                       {"risk_classes": listed}))
    else:
        rising = [defaults[risk] for risk in RISK_CLASSES]
        if rising != sorted(rising):
            problems.append(FieldViolation("ratios", "RATIOS_FALL_WITH_RISK",
                                           "must not fall as the risk rises (higher risk, higher ratio): "
                                           + ", ".join(f"{r} {defaults[r]}" for r in RISK_CLASSES)))
    return problems


def check_seed(seed_value: str, field: str = "seed_value") -> None:
    """The seed is text copied from a public source; control characters would make the copy
    ambiguous (and the key material with it)."""
    if any(unicodedata.category(c) == "Cc" for c in seed_value):
        raise InvalidArgument(FieldViolation(field, "CONTROL_CHARACTERS", "must not contain control characters"))


def check_commitment(seed_source: str, seed_available_on: date, today: date) -> None:
    """The seed source named at the commitment publishes its value on or after the commitment's day."""
    check_seed(seed_source, "seed_source")
    if seed_available_on < today:
        raise InvalidArgument(FieldViolation("seed_available_on", "SEED_SOURCE_ALREADY_PUBLISHED",
                                             f"must not be before today, {today}: the seed's value must not be "
                                             "known when the plan commits to its source", {"today": today}))


def check_draw_seed(plan_id: str, committed_source: str, seed_source: str, available_on: date | None,
                    today: date) -> None:
    """A draw takes its seed from the source the plan committed to, once that source has published."""
    if not committed_source:
        raise FailedPrecondition("PLAN_NOT_COMMITTED", f"plan {plan_id} has no commitment to a seed source; "
                                 "take a new plan's snapshot, which commits it", subject="plan.commitment",
                                 plan_id=plan_id)
    if seed_source != committed_source:
        raise FailedPrecondition("SEED_SOURCE_NOT_COMMITTED",
                                 f"plan {plan_id} committed to the seed source {committed_source!r}, not "
                                 f"{seed_source!r}", subject="seed_source", plan_id=plan_id,
                                 committed_source=committed_source)
    if available_on is not None and today < available_on:
        raise FailedPrecondition("SEED_NOT_YET_PUBLISHED",
                                 f"the committed seed source publishes its value on {available_on}; no draw before",
                                 subject="seed_available_on", plan_id=plan_id, available_on=available_on)


def check_campaign(kind: str, theme: Sequence[str], starts_on: date, ends_on: date, today: date) -> None:
    problems = []
    if kind == SPECIAL_RECTIFICATION and not theme:
        problems.append(FieldViolation("theme", "THEME_REQUIRED", "is required for a special rectification campaign"))
    if len(set(theme)) != len(theme):
        problems.append(FieldViolation("theme", "NAMED_TWICE", "names a category twice"))
    if ends_on < starts_on:
        problems.append(FieldViolation("ends_on", "ENDS_BEFORE_START", "must not be before starts_on",
                                       {"starts_on": starts_on}))
    if ends_on < today:
        problems.append(FieldViolation("ends_on", "DATE_IN_PAST", "must not be in the past"))
    if problems:
        raise InvalidArgument(problems)


def check_extension(status: str, current_end: date, new_end: date) -> None:
    if status != RUNNING:
        raise FailedPrecondition("CAMPAIGN_NOT_RUNNING",
                                 f"the campaign is {status}; only a running campaign is extended",
                                 subject="campaign.status", campaign_status=status)
    if new_end <= current_end:
        raise InvalidArgument(FieldViolation("ends_on", "CAMPAIGN_END_NOT_LATER",
                                             f"must be after the current end, {current_end}", {"ends_on": current_end}))


def check_running(status: str, doing: str) -> None:
    if status != RUNNING:
        raise FailedPrecondition("CAMPAIGN_NOT_RUNNING", f"the campaign is {status}; {doing} needs a running campaign",
                                 subject="campaign.status", campaign_status=status)
