"""A refusal in the reader's words: the catalogue's text for its reason (`reason.<REASON>`) with
its metadata put in, and the values that are words of the services (an action, a stage, a
period) as the reader reads them. The service's English message is never read for its words, so
rewording it changes no page; it is shown only for a reason the catalogue lacks (or a refusal
with no reason: a service that could not be reached), and that is logged, for the catalogue to
catch up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from console import i18n
from console.backend import ServiceError
from suite import logging as suite_logging

if TYPE_CHECKING:
    from console.web import Pages

log = suite_logging.get("console")

# Metadata whose values are words of a vocabulary the console labels (several: comma-separated).
VOCABULARIES = {
    "action": "action", "stage": "stage", "task_stage": "task_stage", "role": "role", "source": "source",
    "penalty_kind": "penalty_kind", "cause": "cause", "causes": "cause", "period_id": "period",
    "agency_status": "agency_status", "from_status": "agency_status", "to_status": "agency_status",
    "campaign_status": "campaign_status", "plan_status": "plan_status", "risk_classes": "risk_class",
    "outcome": "check_outcome", "service": "service",
    "event_kind": "credit_event", "list": "credit_list", "repair_stage": "credit_repair_stage",
    "repair_step": "credit_repair_step",
}
PROVISIONAL = "provisional"
LIST_SEPARATOR = {"zh": "、", "en": ", "}


def words(pages: Pages, lang: str, reason: str, metadata: Mapping[str, str], message: str) -> str:
    """The text for `reason` with `metadata` in it; `message` where the catalogue cannot word it."""
    key = f"reason.{reason}"
    if not i18n.known(lang, key):
        if reason:
            log.warning("refusal reason missing from the catalogue", reason=reason, lang=lang)
        return message
    values = {name: _worded(pages, lang, name, value) for name, value in metadata.items()}
    try:
        worded = i18n.text(lang, key).format_map(values)
    except (KeyError, IndexError, ValueError):
        log.warning("refusal text needs values its metadata lacks", reason=reason, lang=lang, metadata=dict(metadata))
        return message
    return worded + (i18n.text(lang, "mark.provisional_suffix") if metadata.get(PROVISIONAL) == "True" else "")


def _worded(pages: Pages, lang: str, name: str, value: str) -> str:
    vocabulary = VOCABULARIES.get(name)
    if vocabulary is None:
        return value
    return LIST_SEPARATOR[lang].join(pages.label(lang, vocabulary, word) for word in value.split(", "))


def detail(pages: Pages, lang: str, error: ServiceError) -> str:
    """What a refusal says beside its heading."""
    return words(pages, lang, error.reason, error.metadata, error.message)


def field_words(pages: Pages, lang: str, error: ServiceError) -> dict[str, str]:
    """Each field's violations in the reader's words, by the field's path in the request."""
    return {path: "; ".join(words(pages, lang, v.reason, v.metadata, v.description) for v in violations)
            for path, violations in error.fields.items()}


def own(lang: str, reason: str, **values: object) -> str:
    """The words of a refusal the console makes itself, before any service is asked."""
    return i18n.text(lang, f"reason.{reason}").format(**values)
