"""A case's timeline and its notices to reporters, in words. The case workflow records what
happened as a code and the values its words need (`data`, all text), never prose, so rewording
an entry changes no history and every reader reads it in their own language. Whoever shows an
entry brings the texts (the console its gettext catalogues, the complaints service its Chinese for
API clients that show a reporter's messages as they are) and words it here, the same way:

- the text of an entry is found by its code: `timeline.<action>`, a notice's `notice.<code>`;
- its data are put in by name ({name}); a datum that is a word of the services' vocabularies
  (a period, a review's kind and result, a cause, an agency's status) is put in as the reader
  reads that word (`label.<vocabulary>.<word>`);
- a penalty (penalty_kind, fine_cny, suspension_months) is put in as {penalty}, worded by
  `penalty.<kind>` (a suspension with a fine by `penalty.suspension_with_fine`);
- a datum that marks a variant of the entry (a provisional date, a hearing the party may ask
  for, a party absent, a surcharge paid, a transfer within the suite) adds its mark after the
  text when it is set.

The workflow notes an entry with `note(actor, code, internal=..., **data)`; what a person typed
is its `reason`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

TIMELINE = "timeline"
NOTICE = "notice"
# Data that are words of a vocabulary the readers label, by the vocabulary.
VOCABULARIES = {"period_id": "period", "review_kind": "review_kind", "result": "review_result", "cause": "cause",
                "agency_status": "agency_status"}
# Data that add a mark after the text when set, and the mark's text.
MARKS = {"provisional": "mark.provisional_suffix", "hearing": "timeline.mark.hearing",
         "party_absent": "timeline.mark.party_absent", "surcharge_cny": "timeline.mark.surcharge_cny",
         "competent_office": "timeline.mark.competent_office", "previous_region": "timeline.mark.previous_region",
         "previous_assignee": "timeline.mark.previous_assignee"}
# A datum with one of these values is not set (a flag false, an amount of nothing, nothing typed).
UNSET = frozenset({"", "0", "False"})

Texts = Callable[[str], "str | None"]  # a text by its id; None where the reader has none
Label = Callable[[str, str], str]  # a word of a vocabulary as the reader reads it


def listed(items: Iterable[object]) -> str:
    """Several values as one datum (the years of a schedule)."""
    return ", ".join(str(item) for item in items)


def key(kind: str, code: str) -> str:
    return f"{kind}.{code}"


def penalty_key(data: Mapping[str, str]) -> str:
    kind = data.get("penalty_kind", "")
    with_fine = kind == "suspension" and data.get("fine_cny", "") not in UNSET
    return f"penalty.{kind}_with_fine" if with_fine else f"penalty.{kind}"


def words(texts: Texts, label: Label, text_id: str, data: Mapping[str, str]) -> str | None:
    """The text `text_id` names with `data` put in, then the marks `data` set; None when a text
    is missing or asks for a value `data` lacks (the reader then shows what it has instead)."""
    values = {name: label(VOCABULARIES[name], value) if name in VOCABULARIES else value
              for name, value in data.items()}
    if "penalty_kind" in data:
        values["penalty"] = _filled(texts(penalty_key(data)), values)
        if values["penalty"] is None:
            return None
    parts = [_filled(texts(part), values) for part in
             (text_id, *(mark for name, mark in MARKS.items() if data.get(name, "") not in UNSET))]
    return None if None in parts else "".join(parts)


def _filled(text: str | None, values: Mapping[str, str]) -> str | None:
    if text is None:
        return None
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError):
        return None
