"""The actions handlers and supervisors take on a case (办案操作), each declared once: its name,
the RPC that asks for it, who may take it, in which stages, the arguments it reads from a
`CaseAction`, and its label. The complaints API serves every RPC named here, the case workflow's
validator and its list of what is allowed now read the same entry, and so do the console's forms.

Stages (案件阶段), in order: 核查 (verification: verify the lead, decide whether to open 立案),
调查取证 (investigation), 告知与陈述申辩 (prior notice: statement and defence), 听证 (hearing),
审批 (decision approval), 已决定 (decided: service, payment, publication, review), 结案 (closed)."""

from __future__ import annotations

from dataclasses import dataclass

VERIFICATION = "verification"
INVESTIGATION = "investigation"
PRIOR_NOTICE = "prior_notice"
HEARING = "hearing"
DECISION_APPROVAL = "decision_approval"
DECIDED = "decided"
CLOSED = "closed"
STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED, CLOSED)

STAFF = frozenset({"handler", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
OPEN_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED)
EXTENSIBLE_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    rpc: str
    roles: frozenset[str]
    stages: tuple[str, ...]
    # The CaseAction fields the action reads (its typed arguments; the others stay empty).
    arguments: tuple[str, ...]
    label_zh: str
    label_en: str


def _spec(name, rpc, roles, stages, arguments, zh, en) -> ActionSpec:
    return ActionSpec(name, rpc, roles, stages, arguments, zh, en)


PENALTY = ("penalty_kind", "fine_cny", "suspension_months")

CASE_ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    _spec("assign", "AssignCase", STAFF, OPEN_STAGES, ("assignee",), "分派承办人", "Assign"),
    _spec("record_verification", "RecordVerification", STAFF, (VERIFICATION,), ("reason",),
          "记录核查情况", "Record verification"),
    _spec("add_evidence", "AddEvidence", STAFF, (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING),
          ("attachment_id", "reason"), "添加证据", "Add evidence"),
    _spec("open", "OpenCase", STAFF, (VERIFICATION,), ("reason",), "立案", "Open the case"),
    _spec("decline", "DeclineCase", STAFF, (VERIFICATION,), ("reason",), "不予立案", "Decline to open"),
    _spec("request_extension", "RequestExtension", STAFF, EXTENSIBLE_STAGES, ("reason",),
          "申请延长期限", "Request an extension"),
    _spec("approve_extension", "ApproveExtension", SUPERVISOR, EXTENSIBLE_STAGES, ("reason",),
          "批准延期", "Approve the extension"),
    _spec("refuse_extension", "RefuseExtension", SUPERVISOR, EXTENSIBLE_STAGES, ("reason",),
          "不批准延期", "Refuse the extension"),
    _spec("suspend_clock", "SuspendClock", STAFF, EXTENSIBLE_STAGES, ("cause", "reason"),
          "中止计时", "Stop the clock"),
    _spec("resume_clock", "ResumeClock", STAFF, (VERIFICATION, INVESTIGATION, PRIOR_NOTICE), ("reason",),
          "恢复计时", "Resume the clock"),
    _spec("propose_penalty", "ProposePenalty", STAFF, (INVESTIGATION,), (*PENALTY, "reason"),
          "送达行政处罚告知书", "Serve the prior notice"),
    _spec("record_statement", "RecordStatement", STAFF, (PRIOR_NOTICE,), ("reason",),
          "记录陈述申辩", "Record the statement"),
    _spec("request_hearing", "RequestHearing", STAFF, (PRIOR_NOTICE,), ("hearing_on",),
          "安排听证", "Schedule a hearing"),
    _spec("record_hearing", "RecordHearing", STAFF, (HEARING,), ("reason",), "记录听证", "Record the hearing"),
    _spec("submit_decision", "SubmitDecision", STAFF, (INVESTIGATION, PRIOR_NOTICE), (*PENALTY, "reason"),
          "提交处理决定", "Submit the decision"),
    _spec("approve_decision", "ApproveDecision", SUPERVISOR, (DECISION_APPROVAL,), ("reason",),
          "批准处理决定", "Approve the decision"),
    _spec("record_service", "RecordService", STAFF, (DECIDED,), ("party_present",),
          "记录决定书送达", "Record service"),
    _spec("record_payment", "RecordPayment", STAFF, (DECIDED,), ("amount_cny",), "记录罚款缴纳", "Record payment"),
    _spec("record_review", "RecordReview", STAFF, (DECIDED,), ("review_kind", "review_pending", "review_upheld"),
          "记录复议/诉讼", "Record a review"),
    _spec("transfer", "TransferCase", STAFF, (VERIFICATION, INVESTIGATION),
          ("target_region_code", "target_authority", "reason"), "移送", "Transfer"),
    _spec("refer_to_association", "ReferToAssociation", STAFF, (VERIFICATION, INVESTIGATION),
          ("association_id", "reason"), "转行业协会自律处理", "Refer to an association"),
    _spec("close", "CloseCase", STAFF, (DECIDED,), ("reason",), "结案", "Close"),
)}


def actions_of_stage(stage: str) -> list[ActionSpec]:
    return [spec for spec in CASE_ACTIONS.values() if stage in spec.stages]
