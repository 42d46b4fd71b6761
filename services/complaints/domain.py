"""Rules of intake (受理), tracking and the case record, without I/O: who may file what, what a
reporter must (and must not) give, which files are accepted, how case ids, tracking codes and
secrets are made, when a report joins an open case, and what a reporter may read."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from contracts import timeline
from rules import Period, Surcharge, WorkingDayCalendar
from suite import clock
from suite.errors import FailedPrecondition, FieldViolation, InvalidArgument, PermissionDenied, ResourceExhausted
from suite.outbox import MemberEvent

# ---- who files what (来源) -------------------------------------------------------------------

PUBLIC = "public"
DEPARTMENT_TRANSFER = "department_transfer"  # 移送
HIGHER_OFFICE = "higher_office"  # 交办
INSPECTION = "inspection"  # 检查发现
ASSOCIATION = "association"  # 行业协会移交

SOURCES_BY_ROLE = {
    "public": (PUBLIC,),
    "citizen": (PUBLIC,),
    "handler": (DEPARTMENT_TRANSFER, HIGHER_OFFICE),
    "supervisor": (DEPARTMENT_TRANSFER, HIGHER_OFFICE),
    "inspector": (INSPECTION,),
    "operator": (INSPECTION,),
    "machine": (INSPECTION,),  # an inspection task's workflow files what the inspection found
    "association": (ASSOCIATION,),
}


@dataclass(frozen=True)
class ReporterIdentity:
    """Who filed a report (举报人). Kept in this service only; everyone else sees `reference`."""

    real_name: bool
    name: str = ""
    phone: str = ""
    resident_id: str = ""
    organisation: str = ""
    email: str = ""

    IDENTITY_FIELDS = ("name", "phone", "resident_id", "organisation", "email")


def check_source(role: str, source: str, source_reference: str, reporter: ReporterIdentity | None) -> None:
    """A caller files only the sources of its role: the public as itself, staff the transfers and
    assignments they receive, inspectors their findings, associations their referrals."""
    allowed = SOURCES_BY_ROLE.get(role, ())
    if source not in allowed:
        raise PermissionDenied("SOURCE_NOT_FOR_ROLE",
                               f"role {role!r} files {', '.join(allowed) or 'no'} reports, not {source}",
                               role=role, source=source)
    violations = []
    if source == PUBLIC:
        if reporter is None:
            violations.append(FieldViolation("reporter", "REPORTER_REQUIRED", "is required for a public report "
                                             "(send an empty reporter to report anonymously)"))
        if source_reference:
            violations.append(FieldViolation("source_reference", "SOURCE_REFERENCE_NOT_FOR_PUBLIC",
                                             "is for transfers, assignments, inspections and referrals, "
                                             "not a public report"))
    elif not source_reference:
        violations.append(FieldViolation("source_reference", "SOURCE_REFERENCE_REQUIRED",
                                         f"is required for a {source} report: the document, task or referral number",
                                         {"source": source}))
    if reporter is not None:
        violations.extend(reporter_problems(reporter))
    if violations:
        raise InvalidArgument(violations)


def reporter_problems(reporter: ReporterIdentity) -> list[FieldViolation]:
    """An anonymous reporter gives nothing that identifies them; a real-name reporter (实名举报)
    gives a name and a way to be reached or identified: a phone or a resident id."""
    if not reporter.real_name:
        return [FieldViolation(f"reporter.{name}", "ANONYMOUS_REPORT_IDENTIFIES",
                               "must be empty in an anonymous report (real_name false)")
                for name in ReporterIdentity.IDENTITY_FIELDS if getattr(reporter, name)]
    problems = []
    if not reporter.name:
        problems.append(FieldViolation("reporter.name", "REAL_NAME_REQUIRED", "is required in a real-name report"))
    if not (reporter.phone or reporter.resident_id):
        problems += [FieldViolation(f"reporter.{name}", "REAL_NAME_CONTACT_REQUIRED",
                                    "a real-name report needs a phone or a resident id")
                     for name in ("phone", "resident_id")]
    return problems


def check_occurred_on(occurred_on: date | None, today: date) -> None:
    if occurred_on is not None and occurred_on > today:
        raise InvalidArgument(FieldViolation("occurred_on", "DATE_IN_FUTURE", "must not be in the future"))


# ---- attachments (证据材料) ------------------------------------------------------------------

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
# The request around the content (filename, type) fits in this much more.
MAX_UPLOAD_MESSAGE_BYTES = MAX_ATTACHMENT_BYTES + 64 * 1024
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
ACCEPTED_TYPES = (*_MAGIC, "text/plain")
_TEXT_CONTROLS = set(range(32)) - {9, 10, 12, 13}


def check_attachment(content_type: str, content: bytes) -> str:
    """The media type the content really is, if it is one of the accepted ones and the one declared."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise InvalidArgument(FieldViolation("content_type", "ATTACHMENT_TYPE_NOT_ACCEPTED",
                                             f"must be one of {', '.join(ACCEPTED_TYPES)}",
                                             {"accepted": ", ".join(ACCEPTED_TYPES)}))
    if not content:
        raise InvalidArgument(FieldViolation("content", "FIELD_REQUIRED", "is required"))
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise InvalidArgument(FieldViolation("content", "ATTACHMENT_TOO_LARGE",
                                             f"must be at most {MAX_ATTACHMENT_BYTES} bytes",
                                             {"max_mib": MAX_ATTACHMENT_BYTES // (1024 * 1024)}))
    if sniff(content) != media_type:
        raise InvalidArgument(FieldViolation("content", "ATTACHMENT_CONTENT_MISMATCH",
                                             f"is not {media_type} (its first bytes say otherwise)",
                                             {"content_type": media_type}))
    return media_type


def sniff(content: bytes) -> str | None:
    """What the bytes are by their signature; text is UTF-8 or GB18030 without control characters."""
    for media_type, signatures in _MAGIC.items():
        if content.startswith(signatures):
            return media_type
    if _TEXT_CONTROLS.isdisjoint(content):
        for encoding in ("utf-8", "gb18030"):
            try:
                content.decode(encoding)
                return "text/plain"
            except UnicodeDecodeError:
                continue
    return None


def content_address(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# ---- case ids, tracking codes and secrets -----------------------------------------------------

def province_of(region_code: str) -> str:
    return region_code[:2] + "0000"


def case_id(year: int, region_code: str, sequence: int) -> str:
    """case-2026-110000-000123: the year received, the province of jurisdiction, and its count."""
    return f"case-{year}-{province_of(region_code)}-{sequence:06d}"


# Digits and capitals without the look-alikes 0/O, 1/I/L and U/V: read out over the phone or
# copied by hand without mistakes.
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
TRACKING_CODE_LENGTH = 10
TRACKING_SECRET_LENGTH = 16


def new_tracking_code() -> str:
    return _grouped("".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_CODE_LENGTH)), 5)


def normalize_tracking(text: str) -> str:
    """What a person typed, the way it is stored: capitals, grouped, spaces and dashes ignored."""
    plain = "".join(c for c in text.upper() if c not in " -")
    return _grouped(plain, 5 if len(plain) == TRACKING_CODE_LENGTH else 4)


def tracking_secret(key: bytes, tracking_code: str) -> str:
    """The secret (密码) of a tracking code: derived from the code under the service's key, so the
    database holds only its hash, yet a retried filing can be answered with the same secret."""
    digest = hmac.new(key, b"ipss.complaints.tracking-secret\x00" + tracking_code.encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(TRACKING_SECRET_LENGTH):
        number, index = divmod(number, len(TRACKING_ALPHABET))
        chars.append(TRACKING_ALPHABET[index])
    return _grouped("".join(chars), 4)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(normalize_tracking(secret).encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def new_reporter_reference() -> str:
    """The opaque name under which the workflow, other services and logs know a reporter."""
    return f"rp-{secrets.token_hex(10)}"


def _grouped(text: str, size: int) -> str:
    return "-".join(text[i:i + size] for i in range(0, len(text), size))


# ---- duplicates (并案) ------------------------------------------------------------------------

@dataclass(frozen=True)
class IntakeRules:
    """What intake takes from the rules file: its version and the duplicate window; and the
    working-day calendar, as `calendar_source` gives it at each use."""

    rules_version: str
    duplicate_window: Period
    calendar_source: Callable[[], WorkingDayCalendar]

    @property
    def calendar(self) -> WorkingDayCalendar:
        return self.calendar_source()

    def joins(self, received_on: date, today: date) -> bool:
        """A report joins an open case on the same agency and conduct received within the window."""
        return today <= self.calendar.deadline(received_on, self.duplicate_window)


# ---- the record --------------------------------------------------------------------------------

VERIFICATION = "verification"
DECISION_APPROVAL = "decision_approval"
CLOSED = "closed"
# The action a supervisor takes on a requested extension; the record lists it while one waits.
APPROVE_EXTENSION = "approve_extension"
INITIAL_STATUS = "received"
RECEIVED = "received"  # the timeline entry of a report's receipt (收到举报)
NO_DEADLINE = date(9999, 12, 31)  # sorts a case without a running deadline after every other

STAGE_LABELS = {
    "verification": "核查中（审查是否立案）",
    "investigation": "已立案，调查取证中",
    "prior_notice": "已告知拟处罚，听取陈述申辩",
    "hearing": "听证程序中",
    "decision_approval": "处理决定审批中",
    "decided": "已作出处理决定",
    "referred": "已移交行业协会自律处理，等待协会答复",
    "awaiting_acceptance": "已移送，等待承办机关接收",
    "closed": "已办结",
}

REPORTER_ROLES = frozenset({"handler", "supervisor"})


def sees_reporters(role: str) -> bool:
    """Only the officers handling a case (in its region) may know who reported it (投诉举报处理
    暂行办法 art. 33); operators and administrators run the system, they do not handle cases."""
    return role in REPORTER_ROLES


def is_overdue(flagged: bool, next_deadline: date | None, today: date) -> bool:
    """Overdue when the workflow says a period was missed, or the next deadline has passed and the
    workflow has not yet woken to say so."""
    return flagged or (next_deadline is not None and next_deadline < today)


def due_sort_key(next_deadline: date | None) -> date:
    return next_deadline or NO_DEADLINE


# How urgent a case is in the queue (what is due first): a statutory period missed, then the next
# deadline past its warning day, then the rest; the nearest deadline first within each.
OVERDUE_FIRST, DUE_SOON_NEXT, THE_REST = 0, 1, 2


def urgency(overdue: bool, due_soon: bool) -> int:
    """The case's place in the queue: overdue as is_overdue reads it on the day asked; due soon as
    the workflow wrote it on the warning day."""
    if overdue:
        return OVERDUE_FIRST
    return DUE_SOON_NEXT if due_soon else THE_REST


def provisional_note(next_deadline: date | None, provisional: bool) -> str:
    """What a reporter reads beside a provisional (暂定) next deadline: the day may still move,
    because its year's holiday schedule (放假安排) is not out yet; nothing for a final day."""
    if not provisional or next_deadline is None:
        return ""
    return f"暂定：{next_deadline.year}年放假安排尚未发布，日期可能调整"


# ---- referrals to industry associations (移交行业自律) ---------------------------------------------

REFERRED = "referred"
# The record's referral, by the names of the Referral message's fields (the Case's referral_* columns).
REFERRAL_FIELDS = ("association_id", "sent_on", "grounds", "answer", "answered_on", "measure", "answer_reason")
# Answers after which the referral still waits for a final one: none yet, or accepted (受理).
OPEN_REFERRAL_ANSWERS = ("", "accepted")


# ---- events about the agency, for the registry's member events feed --------------------------------

OPENED, DECIDED, PUBLISHED, PUBLICITY_ENDED = "opened", "decided", "published", "publicity_ended"
# The public timeline entries that are events about the agency, and their MemberEventKind word.
MEMBER_EVENT_OF_ENTRY = {OPENED: "case_opened", DECIDED: "decision", PUBLISHED: "publication",
                         PUBLICITY_ENDED: "publication_ended", REFERRED: "referral_sent"}
# What each event tells of its entry's data: a whitelist. Never a reason, a reporter or what a
# handler typed; a decision only its day (the penalty is told once it is published).
MEMBER_EVENT_FACTS = {OPENED: ("on",), DECIDED: ("on",), PUBLISHED: ("until",), PUBLICITY_ENDED: (),
                      REFERRED: ("on",)}


def member_events(case_id: str, agency_id: str, record_revision: int, entries: list[dict], referral: dict,
                  penalty_kind: str) -> list[MemberEvent]:
    """The member events the public entries of one record write make, each keyed by the entry's
    place (complaints:<case>:<record revision>:<position>), so that a retried write makes the same
    keys. A publication tells the kind of penalty published; a referral is the referred
    association's alone. A case about no registered agency (an entity not in the registry, a
    practitioner) makes none: no association has it as a member."""
    if not agency_id:
        return []
    events = []
    for position, entry in enumerate(entries):
        kind = MEMBER_EVENT_OF_ENTRY.get(entry["action"])
        if kind is None or entry["internal"]:
            continue
        data = entry.get("data") or {}
        facts = {name: data[name] for name in MEMBER_EVENT_FACTS[entry["action"]] if data.get(name)}
        association_id = ""
        if entry["action"] == PUBLISHED and penalty_kind:
            facts["penalty_kind"] = penalty_kind
        if entry["action"] == REFERRED:
            association_id = referral.get("association_id", "")
            if not association_id:
                continue  # never to every association: a referral is its association's alone
        events.append(MemberEvent(source_key=f"complaints:{case_id}:{record_revision}:{position}", kind=kind,
                                  subject_id=case_id, occurred_at=entry["at"], agency_id=agency_id, facts=facts,
                                  association_id=association_id))
    return events


# ---- escalations (超期督办) and handlers' notifications (办案提醒) -----------------------------------
#
# The case workflow notes on the timeline when a period of the office reaches its warning day
# (due_soon), when one is missed (deadline_missed), when a supervisor reassigns the case
# (reassigned) and when a missed period's duty is done late (overdue_duty_done). The record write
# that brings those entries files what follows from them here, in its own transaction: the
# escalation in the supervisors' inbox, the notification to the handler, the escalation settled.

DUE_SOON, MISSED, REASSIGNED, DUTY_DONE = "due_soon", "deadline_missed", "reassigned", "overdue_duty_done"
OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
UNRESOLVED = (OPEN, ACKNOWLEDGED)
# Resolutions, as the EscalationResolution words say them.
BY_REASSIGNMENT, BY_DUTY_DONE, BY_CLOSING, NO_LONGER_MISSED = "reassigned", "duty_done", "case_closed", \
    "no_longer_missed"
SYSTEM = "system"
# The notification kinds (NotificationKind words).
NOTIFY_DUE_SOON, NOTIFY_REASSIGNED = "due_soon", "reassigned"


@dataclass(frozen=True)
class MissedPeriod:
    """A period of the office a case missed, as its deadline_missed entry says."""

    period_id: str
    due_on: date
    missed_on: date
    provisional: bool


@dataclass(frozen=True)
class Settlement:
    """Escalations of a case that something in the record resolved: those of `period_id` (all of
    the case's when empty), how, and by whom."""

    resolution: str
    actor: str
    period_id: str = ""


@dataclass(frozen=True)
class HandlerNotice:
    """A notification to one handler, keyed by the entry it came from (case:revision:position)."""

    source_key: str
    recipient: str
    kind: str
    actor: str
    period_id: str
    due_on: date | None
    warn_on: date | None
    provisional: bool


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def missed_periods(entries: list[dict]) -> list[MissedPeriod]:
    """The periods the entries say were missed. An entry noted before it carried the day it was
    raised on (`on`) was raised the day after the last day, when the workflow wakes."""
    found = []
    for entry in entries:
        if entry["action"] != MISSED:
            continue
        data = entry.get("data") or {}
        due_on = date.fromisoformat(data["due_on"])
        found.append(MissedPeriod(data["period_id"], due_on, _day(data.get("on")) or due_on + timedelta(days=1),
                                  data.get("provisional") == "True"))
    return found


def settlements(entries: list[dict]) -> list[Settlement]:
    """What the entries settle: a reassignment, every escalation of the case (the supervisor acted
    on it); a missed period's duty done, that period's."""
    found = []
    for entry in entries:
        if entry["action"] == REASSIGNED:
            found.append(Settlement(BY_REASSIGNMENT, entry["actor"]))
        elif entry["action"] == DUTY_DONE:
            found.append(Settlement(BY_DUTY_DONE, entry["actor"], (entry.get("data") or {}).get("period_id", "")))
    return found


def still_missed(deadlines: list[dict], period_id: str, due_on: date) -> bool:
    """Whether the record still has the period missed on that last day: a missed period re-timed
    to a later day (the holiday schedule published) runs again, and one started again has
    another last day."""
    return any(d["period_id"] == period_id and d["state"] == "missed" and d["due_on"] == due_on.isoformat()
               for d in deadlines)


def handler_notices(case_id: str, record_revision: int, entries: list[dict], summary: dict,
                    deadlines: list[dict]) -> list[HandlerNotice]:
    """The notifications the entries make: a warning goes to the handler the case is assigned to
    (none assigned: the region's queue shows the case due soon, first), a reassignment to the
    handler it names."""
    warn_days = {d["period_id"]: d["warn_on"] for d in deadlines}
    found = []
    for position, entry in enumerate(entries):
        data = entry.get("data") or {}
        key = f"{case_id}:{record_revision}:{position}"
        if entry["action"] == DUE_SOON and summary["assignee"]:
            period_id = data.get("period_id", "")
            found.append(HandlerNotice(key, summary["assignee"], NOTIFY_DUE_SOON, SYSTEM, period_id,
                                       _day(data.get("due_on")), _day(data.get("warn_on") or warn_days.get(period_id)),
                                       data.get("provisional") == "True"))
        elif entry["action"] == REASSIGNED and data.get("assignee"):
            found.append(HandlerNotice(key, data["assignee"], NOTIFY_REASSIGNED, entry["actor"],
                                       summary["next_deadline_period"], summary["next_deadline"], None,
                                       summary["next_deadline_provisional"]))
    return found


def check_acknowledgement(state: str, taken_by: str, supervisor: str, escalation_id: int) -> None:
    """A supervisor takes an escalation from the region's pool; taking one they hold already is
    no change. One another supervisor took, or one resolved, is not theirs to take."""
    if state == RESOLVED:
        raise FailedPrecondition("ESCALATION_RESOLVED", f"escalation {escalation_id} is resolved",
                                 subject=f"escalation:{escalation_id}")
    if taken_by and taken_by != supervisor:
        raise FailedPrecondition("ESCALATION_TAKEN", f"escalation {escalation_id} was taken by {taken_by}",
                                 subject=f"escalation:{escalation_id}", supervisor=taken_by)


def days_overdue(due_on: date, until: date) -> int:
    """Calendar days past the last day: 1 on the day after it."""
    return max(0, (until - due_on).days)


# ---- what a reporter reads ------------------------------------------------------------------------

@dataclass(frozen=True)
class ReporterMessage:
    """A message on a reporter's status page: a public timeline entry (its action) or a notice
    (its code), with the values its words need; `recorded` holds the words of one recorded before
    codes and data existed."""

    at: datetime
    action: str = ""
    notice: str = ""
    data: dict[str, str] = field(default_factory=dict)
    recorded: str = ""


# The reporter's messages in Chinese, for API clients that show them as they are: the texts of the
# public timeline entries and the notices, by the ids and in the words of the console's Chinese
# catalogue (console/locale/zh_CN), which a test holds them to.
REPORTER_WORDS = {
    "timeline.received": "{on} 收到举报",
    "timeline.opened": "{on} 立案调查",
    "timeline.declined": "{on} 不予立案：{reason}",
    "portal.timeline.declined": "{on} 不予立案",
    "timeline.transferred": "{on} 移送{to}",
    "timeline.mark.competent_office": "（有管辖权的机关）",
    "timeline.referred": "{on} 转行业协会自律处理",
    "timeline.referral_accepted": "{on} 行业协会已受理移交",
    "timeline.referral_measure_taken": "{on} 行业协会已采取自律措施：{measure}",
    "timeline.decided": "{on} 作出处理决定：{penalty}",
    "timeline.published": "处罚信息公示至 {until}",
    "timeline.agency_suspended": "停止承接新业务至 {until}",
    "timeline.publicity_ended": "处罚信息公示期届满",
    "timeline.credit_repair_open": "可申请信用修复",
    "timeline.review_concluded": "{review_kind}：{result}",
    "timeline.publication_withdrawn": "处罚信息已撤回，不再计入信用评价",
    "timeline.suspension_lifted": "停止承接新业务自 {on} 解除",
    "timeline.licence_reinstated": "吊销决定已撤销，机构自 {on} 起恢复为“{agency_status}”",
    "timeline.closed": "{on} 结案",
    "timeline.transfer_accepted": "{on} 承办机关已接收移送案件",
    "timeline.merged": "{on} 并入同一违法行为的案件合并办理",
    "notice.opened": "您举报的问题已立案调查",
    "notice.declined": "您举报的问题经核查不予立案",
    "notice.joined": "您举报的机构和违法行为已有案件正在办理，您的举报已并入该案件一并处理。",
    "notice.merged": "同一违法行为的举报已合并为一个案件办理，您可继续使用原查询码查询办理进度。",
    "penalty.none": "不予处罚",
    "penalty.warning": "警告",
    "penalty.fine": "罚款 {fine_cny} 元",
    "penalty.suspension": "停止承接新业务 {suspension_months} 个月",
    "penalty.suspension_with_fine": "停止承接新业务 {suspension_months} 个月，并处罚款 {fine_cny} 元",
    "penalty.revocation": "吊销执业许可证",
    "label.review_kind.reconsideration": "行政复议",
    "label.review_kind.litigation": "行政诉讼",
    "label.review_result.upheld": "维持原处理决定",
    "label.review_result.revoked": "撤销原处理决定",
    "label.agency_status.active": "正常",
    "label.agency_status.suspended": "停止承接新业务",
    "label.agency_status.revoked": "已吊销",
    "label.agency_status.deregistered": "已注销",
}


def reporter_text(message: ReporterMessage) -> str:
    """A reporter's message in Chinese, worded from its code and data; its code where the words
    are missing (a test keeps that from happening). A timeline entry the reporter reads in other
    words than staff do (without what a person typed) has its text under `portal.timeline.<code>`."""
    if message.action:
        text_id = timeline.key(timeline.TIMELINE, message.action)
        portal_id = f"portal.{text_id}"
        text_id, code = (portal_id if portal_id in REPORTER_WORDS else text_id), message.action
    else:
        text_id, code = timeline.key(timeline.NOTICE, message.notice), message.notice
    return timeline.words(REPORTER_WORDS.get, _reporter_label, text_id, message.data) or code


# What a handler typed into an entry or a notice (a reason, a free-text detail): the office's words,
# not the reporter's to read (issue 15 item 3). The reporter's page shows what happened, by code,
# without them. (The self-regulatory measure an association took is the outcome the reporter is
# told, as a penalty is: it stays.)
TYPED_DATA = frozenset({"reason", "detail", "note", "comment"})
# The timeline entries that carried a handler's words (their recorded words, before codes, may hold them).
TYPED_ACTIONS = frozenset({"declined"})


def for_reporter(message: ReporterMessage) -> ReporterMessage:
    """The message as the reporter may read it: no typed data, and an entry recorded in words
    before codes existed, where those words could hold a person's text, worded again by its code
    (its day from its moment)."""
    data = {name: value for name, value in message.data.items() if name not in TYPED_DATA}
    recorded = message.recorded
    if recorded and (message.action in TYPED_ACTIONS or message.notice == "declined"):
        recorded = ""
        data.setdefault("on", message.at.astimezone(clock.CHINA).date().isoformat())
    return ReporterMessage(message.at, action=message.action, notice=message.notice, data=data, recorded=recorded)


@dataclass(frozen=True)
class UploadQuota:
    """How much a caller may upload in a window of time (issue 15 item 7)."""

    uploads: int
    bytes: int
    window: timedelta = timedelta(hours=1)


# The public, known only by its address, gets less than a caller with a token (staff upload
# evidence in bulk). A caller over its quota is refused RESOURCE_EXHAUSTED with RetryInfo.
UPLOAD_QUOTAS = {"public": UploadQuota(uploads=100, bytes=200 * 2**20)}
DEFAULT_UPLOAD_QUOTA = UploadQuota(uploads=500, bytes=2 * 2**30)


def upload_quota(role: str) -> UploadQuota:
    return UPLOAD_QUOTAS.get(role, DEFAULT_UPLOAD_QUOTA)


# The metadata a trusted front end (the console) names the public's own address in: the console
# is one peer for all its visitors, so counting its address would give the whole portal one quota.
CLIENT_ADDRESS_HEADER = "x-ipss-client-address"


def peer_host(peer: str) -> str:
    """The address of a gRPC peer without its port: "ipv4:203.0.113.5:51234" is 203.0.113.5,
    "ipv6:[::1]:51234" is ::1."""
    address = peer.split(":", 1)[1] if peer.startswith(("ipv4:", "ipv6:")) else peer
    if ":" in address:
        address = address.rsplit(":", 1)[0]
    return address.strip("[]")


def upload_caller(role: str, subject: str, peer: str, forwarded: str, trusted_proxies: frozenset[str]) -> str:
    """Who an upload is counted against: a token's subject; for the public, its address: the one a
    trusted front end names (CLIENT_ADDRESS_HEADER, believed only from a trusted proxy's address),
    else the peer's own. A header from anyone else is ignored: it would let a caller pick its count."""
    if role != "public":
        return f"subject:{subject}"[:200]
    host = peer_host(peer)
    if forwarded and host in trusted_proxies:
        host = forwarded.strip()
    return f"peer:{host}"[:200]


def check_upload_quota(quota: UploadQuota, count: int, size: int, oldest: datetime | None, adding: int,
                       now: datetime) -> None:
    """Refuse an upload that would take the caller past its quota in the window; RetryInfo says
    when the oldest upload of the window leaves it."""
    if count + 1 <= quota.uploads and size + adding <= quota.bytes:
        return
    retry = max(1.0, ((oldest + quota.window) - now).total_seconds()) if oldest else quota.window.total_seconds()
    raise ResourceExhausted("UPLOAD_QUOTA_EXCEEDED",
                            f"at most {quota.uploads} uploads or {quota.bytes // 2**20} MiB an hour",
                            retry_after_seconds=retry, uploads=str(quota.uploads),
                            mebibytes=str(quota.bytes // 2**20))


def answer_names_case(source: str, reporter: ReporterIdentity | None) -> bool:
    """Whether FileReport's answer names the case and says whether the report joined it: for staff
    sources (transfers, assignments, inspections, referrals) and real-name reporters, who are told
    of the case anyway (the joined notice, the opening decision); not for an anonymous public
    report, whose answer must not confirm an investigation to someone filing only to probe."""
    return source != PUBLIC or (reporter is not None and reporter.real_name)


def sees_case_progress(source: str, real_name: bool | None, joined_existing_case: bool) -> bool:
    """Whether a report's status page shows its case's progress (stage, next deadline, public
    timeline, notices). Not for an anonymous public report that joined an open case: the case's
    stage, its deadlines and its entries from before the filing would confirm an investigation
    to someone filing only to probe (as its FileReport answer would, see answer_names_case).
    Such a page shows what the filing itself implies (status_as_filed). A report that opened its
    case sees the progress its own filing brought; a real-name reporter is told of the case anyway."""
    return not joined_existing_case or source != PUBLIC or bool(real_name)


@dataclass(frozen=True)
class StatusAsFiled:
    """What the page of a report that may not see its case's progress shows."""

    stage: str
    messages: list[ReporterMessage]


def status_as_filed(case_stage: str, filed_at: datetime, filed_on: date) -> StatusAsFiled:
    """A report is received on its own filing day and verified until the case closes: no earlier
    day, no later stage, no deadline (each would tell the case's own history)."""
    receipt = ReporterMessage(filed_at, action=RECEIVED, data={"on": filed_on.isoformat()})
    return StatusAsFiled(CLOSED if case_stage == CLOSED else VERIFICATION, [receipt])


def _reporter_label(vocabulary: str, word: str) -> str:
    return REPORTER_WORDS.get(f"label.{vocabulary}.{word}", word)


# ---- the late-payment surcharge (加处罚款) ------------------------------------------------------

PAY_FINE = "pay_fine"
# A decision revoked on review cancels its running periods: no fine is owed, so no surcharge.
CANCELLED = "cancelled"


def surcharge_owed(rule: Surcharge, fine_cny: int, deadlines: list[dict], paid_on: date | None,
                   paused: list[list[str]], today: date) -> int:
    """The surcharge in whole yuan owed on `today` (the day the record is read, not the day the
    workflow last woke): every day after the pay_fine deadline up to today, or up to the day of
    payment, except the days a review was pending (行政处罚法 art. 72–73), at the rules
    version's rate and cap. Nothing while the deadline is provisional (暂定): no surcharge rests
    on a day the State Council's holiday schedule may still move."""
    pay = next((d for d in deadlines if d["period_id"] == PAY_FINE), None)
    if not fine_cny or pay is None or pay.get("provisional") or pay["state"] == CANCELLED:
        return 0
    return rule.owed_on(fine_cny * 100, date.fromisoformat(pay["due_on"]), paid_on or today,
                        review_spans(paused)) // 100


def review_spans(paused: list[list[str]]) -> list[tuple[date, date | None]]:
    """[filed_on, concluded_on or ""] as days, None for a review still pending."""
    return [(date.fromisoformat(filed_on), date.fromisoformat(concluded_on) if concluded_on else None)
            for filed_on, concluded_on in paused]


@dataclass(frozen=True)
class Agency:
    """The reported agency as the registry knows it; its region decides jurisdiction (管辖)."""

    agency_id: str
    name: str
    credit_code: str
    region_code: str
    kind: str


@dataclass(frozen=True)
class Practitioner:
    """A practitioner as the registry knows them, and the region of the agency they practise at
    (empty when they practise nowhere)."""

    practitioner_id: str
    name: str
    certificate_number: str
    region_code: str


# Who a report is about (被举报对象), as the SubjectKind words say it.
AGENCY_SUBJECT, ENTITY_SUBJECT, PRACTITIONER_SUBJECT = "agency", "unregistered_entity", "practitioner"
SUBJECT_KEY_LENGTH = 300


@dataclass(frozen=True)
class Subject:
    """Who a case is about: a registered agency; an entity the registry does not know (未登记主体),
    by what the reporter knew (name, credit code if any, address, region); or a practitioner (从业
    人员), registered or not. Its region decides the office (管辖)."""

    kind: str
    region_code: str
    agency_id: str = ""
    name: str = ""
    credit_code: str = ""
    agency_kind: str = ""
    address: str = ""
    practitioner_id: str = ""
    practitioner_name: str = ""
    certificate_number: str = ""

    @property
    def key(self) -> str:
        return subject_key(self.kind, self.region_code, self.agency_id, self.name, self.credit_code,
                           self.practitioner_id, self.practitioner_name, self.certificate_number)


def subject_key(kind: str, region_code: str, agency_id: str, name: str, credit_code: str, practitioner_id: str,
                practitioner_name: str, certificate_number: str) -> str:
    """What makes two reports about the same subject (for joining an open case and merging): a
    registry entry by its id; an entity not in it by its credit code, else its name in its region;
    a practitioner not in it by certificate number, else name in region."""
    if kind == PRACTITIONER_SUBJECT:
        if practitioner_id:
            key = f"practitioner:{practitioner_id}"
        elif certificate_number:
            key = f"practitioner:certificate:{certificate_number.upper()}"
        else:
            key = f"practitioner:{region_code}:{practitioner_name}"
    elif agency_id:
        key = f"agency:{agency_id}"
    elif credit_code:
        key = f"entity:{credit_code.upper()}"
    else:
        key = f"entity:{region_code}:{name}"
    return key[:SUBJECT_KEY_LENGTH]


def agency_subject(agency: Agency) -> Subject:
    return Subject(AGENCY_SUBJECT, agency.region_code, agency_id=agency.agency_id, name=agency.name,
                   credit_code=agency.credit_code, agency_kind=agency.kind)


def entity_subject(name: str, credit_code: str, region_code: str, address: str, found: Agency | None) -> Subject:
    """An entity as reported: the registry's agency when it knows it (matched at intake), else the
    entity as named, in the region the reporter gave."""
    if found is not None:
        return dataclasses.replace(agency_subject(found), address=address)
    return Subject(ENTITY_SUBJECT, region_code, name=name, credit_code=credit_code.upper(), address=address)


def practitioner_subject(name: str, certificate_number: str, region_code: str,
                         found: Practitioner | None) -> Subject:
    """A practitioner as reported: the registry's, in the region of the agency they practise at,
    when it knows the certificate; else as named. The region is the report's when the registry
    gives none; without either, the report cannot be placed with an office."""
    region = (found.region_code if found else "") or region_code
    if not region:
        raise InvalidArgument(FieldViolation("practitioner.region_code", "PRACTITIONER_REGION_REQUIRED",
                                             "is required: the registry knows no agency where this practitioner "
                                             "practises"))
    if found is not None:
        return Subject(PRACTITIONER_SUBJECT, region, practitioner_id=found.practitioner_id,
                       practitioner_name=found.name, certificate_number=found.certificate_number)
    return Subject(PRACTITIONER_SUBJECT, region, practitioner_name=name, certificate_number=certificate_number)


def subject_name(kind: str, agency_name: str, practitioner_name: str) -> str:
    """What a case is about, by name: the practitioner's, or the agency's (an entity's as reported)."""
    return practitioner_name if kind == PRACTITIONER_SUBJECT else agency_name


REPORT_SUBJECTS = ("agency", "entity", "practitioner")


def check_report_subject(given: str | None) -> None:
    if given not in REPORT_SUBJECTS:
        raise InvalidArgument(FieldViolation("agency", "REPORT_SUBJECT_REQUIRED",
                                             "a report names who it is about: a registered agency, an entity "
                                             "or a practitioner"))


# ---- merging two cases on the same conduct (并案) -----------------------------------------------------

MERGED = "merged"
MERGED_NOTICE_CODE = "merged"  # what the notice says: the reports were merged into one case
# The entries of the two cases' records that move reports: the case taking another in notes
# case_merged_in (merged_case_id), the case merged away notes merge_grounds (into_case_id).
MERGED_IN, MERGE_GROUNDS = "case_merged_in", "merge_grounds"
MERGEABLE_STAGES = ("verification", "investigation")


def merged_notice_key(merged_case_id: str) -> str:
    return f"merged:{merged_case_id}"


def check_merge(merged_id: str, merged_stage: str, merged_into: str, merged_key: str, into_id: str,
                into_key: str) -> None:
    """What the service checks before it asks either workflow (the workflows check again): two
    cases, the one merged away not decided or merged, both about the same subject. A retried
    merger that went through is no refusal."""
    if merged_into == into_id:
        return
    if merged_id == into_id:
        raise InvalidArgument(FieldViolation("into_case_id", "MERGE_INTO_ITSELF", "must be another case"))
    if merged_into or merged_stage not in MERGEABLE_STAGES:
        raise FailedPrecondition("MERGE_CASE_STAGE", f"{merged_id} is in stage {merged_stage}: a case is merged "
                                 "away before it is decided", subject=merged_id, case_id=merged_id,
                                 stage=merged_stage)
    if merged_key != into_key:
        raise InvalidArgument(FieldViolation("into_case_id", "MERGE_OTHER_SUBJECT",
                                             "is about another subject: merge cases on the same conduct only "
                                             "(match the subjects first)", {"case_id": into_id}))


def merge_moves(entries: list[dict], case_id: str, merged_into: str) -> list[tuple[str, str]]:
    """The moves of reports a record write's entries bring, as (from case, into case): the case
    taking another in takes its reports; the case merged away hands on any filed since."""
    moves = []
    for entry in entries:
        data = entry.get("data") or {}
        if entry["action"] == MERGED_IN and data.get("merged_case_id"):
            moves.append((data["merged_case_id"], case_id))
        elif entry["action"] == MERGE_GROUNDS and (data.get("into_case_id") or merged_into):
            moves.append((case_id, data.get("into_case_id") or merged_into))
    return moves


@dataclass(frozen=True)
class Intake:
    """One report as filed."""

    source: str
    category: str
    description: str
    occurred_on: date | None
    source_reference: str
    attachment_ids: tuple[str, ...]
    reporter: ReporterIdentity | None


JOINED_NOTICE_KEY = "joined"
JOINED_NOTICE_CODE = "joined"  # what the notice says: the report joined an open case (并案)


def case_description(reports: list[tuple[date, str]]) -> str:
    """The first report's account, then each joined report's (并案线索), dated, in filing order."""
    first, *joined = reports
    return "\n\n".join([first[1], *(f"【并案举报 {filed_on.isoformat()}】{text}" for filed_on, text in joined)])
