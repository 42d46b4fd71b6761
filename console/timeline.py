"""A case's timeline and a reporter's messages in the reader's words: the catalogue's text for the
entry's code (`timeline.<action>`, a notice's `notice.<code>`) with its data put in, as
`contracts.timeline` says. The workflow records codes and data, not prose, so rewording a text
here changes no record. An entry recorded before codes and data keeps the words it was recorded
with and is shown in them; an entry whose words the catalogue lacks shows what the service sent,
and that is logged, for the catalogue to catch up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from console import i18n
from contracts import timeline
from ipss.complaints.v1 import complaints_pb2 as pb
from suite import logging as suite_logging

if TYPE_CHECKING:
    from console.web import Pages

log = suite_logging.get("console")


def entry_words(pages: Pages, lang: str, entry: pb.TimelineEntry) -> str:
    """What a timeline entry says; its code where the catalogue cannot word it."""
    if entry.detail:
        return entry.detail
    return _worded(pages, lang, timeline.key(timeline.TIMELINE, entry.action), entry.data) or entry.action


def message_words(pages: Pages, lang: str, message: pb.ReporterMessage) -> str:
    """What a message on a reporter's page says; the service's Chinese where the catalogue cannot
    word it, or where it was recorded in words before codes existed."""
    if not (message.action or message.notice):
        return message.text
    kind, code = (timeline.TIMELINE, message.action) if message.action else (timeline.NOTICE, message.notice)
    text_id = timeline.key(kind, code)
    # An entry the reporter reads in other words than staff (without a person's typed text, which
    # the service does not send them) has its own text: portal.timeline.<code>.
    if kind == timeline.TIMELINE and i18n.known(lang, f"portal.{text_id}"):
        text_id = f"portal.{text_id}"
    return _worded(pages, lang, text_id, message.data) or message.text


def _worded(pages: Pages, lang: str, text_id: str, data: Mapping[str, str]) -> str | None:
    worded = timeline.words(lambda key: i18n.text(lang, key) if i18n.known(lang, key) else None,
                            lambda vocabulary, word: pages.label(lang, vocabulary, word), text_id, data)
    if worded is None:
        log.warning("timeline text missing from the catalogue or asking for data the entry lacks", text_id=text_id,
                    lang=lang, data_names=sorted(data))
    return worded
