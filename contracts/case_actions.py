"""The actions handlers and supervisors take on a case (办案操作), each declared once: its name,
the RPC that asks for it, who may take it, in which stages, the arguments it reads from a
`CaseAction`, and its label (the console's catalogues hold it as `label.action.<name>`, in
Chinese and English). The complaints API serves every RPC named here, the case workflow's
validator and its list of what is allowed now read the same entry, and so do the console's forms.

Stages (案件阶段), in order: 核查 (verification: verify the lead, decide whether to open 立案),
调查取证 (investigation), 告知与陈述申辩 (prior notice: statement and defence), 听证 (hearing),
审批 (decision approval), 已决定 (decided: service, payment, publication, review), 结案 (closed).
Beside them, 移交行业自律 (referred): the case waits for the industry association's answer, the
office's clock standing still; a declined referral returns to the stage it was referred from. And
移送待接收 (awaiting acceptance): a case transferred to another office of the suite waits for that
office to accept it (接收) or return it (退回), the clock standing still meanwhile."""

from __future__ import annotations

from dataclasses import dataclass

VERIFICATION = "verification"
INVESTIGATION = "investigation"
PRIOR_NOTICE = "prior_notice"
HEARING = "hearing"
DECISION_APPROVAL = "decision_approval"
DECIDED = "decided"
REFERRED = "referred"
AWAITING_ACCEPTANCE = "awaiting_acceptance"
CLOSED = "closed"
STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED, REFERRED,
          AWAITING_ACCEPTANCE, CLOSED)

STAFF = frozenset({"handler", "supervisor"})
SUPERVISOR = frozenset({"supervisor"})
ASSOCIATION = frozenset({"association"})
OPEN_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL, DECIDED)
# Before the decision: what a case is about may still be settled, and it may still be merged.
UNDECIDED_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING, DECISION_APPROVAL)
EXTENSIBLE_STAGES = (VERIFICATION, INVESTIGATION, PRIOR_NOTICE)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    rpc: str
    roles: frozenset[str]
    stages: tuple[str, ...]
    # The CaseAction fields the action reads (its typed arguments; the others stay empty).
    arguments: tuple[str, ...]

    @property
    def label(self) -> str:
        """The label's id in the console's catalogues."""
        return f"label.action.{self.name}"


PENALTY = ("penalty_kind", "fine_cny", "suspension_months")

CASE_ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    ActionSpec("assign", "AssignCase", STAFF, OPEN_STAGES, ("assignee",)),
    # A supervisor moves the case to another handler (改派), saying why: what an escalation of a
    # missed period (超期督办) usually comes to.
    ActionSpec("reassign", "ReassignCase", SUPERVISOR, OPEN_STAGES, ("assignee", "reason")),
    ActionSpec("record_verification", "RecordVerification", STAFF, (VERIFICATION,), ("reason",)),
    ActionSpec("add_evidence", "AddEvidence", STAFF, (VERIFICATION, INVESTIGATION, PRIOR_NOTICE, HEARING),
          ("attachment_id", "reason")),
    ActionSpec("open", "OpenCase", STAFF, (VERIFICATION,), ("reason",)),
    ActionSpec("decline", "DeclineCase", STAFF, (VERIFICATION,), ("reason",)),
    ActionSpec("request_extension", "RequestExtension", STAFF, EXTENSIBLE_STAGES, ("reason",)),
    ActionSpec("approve_extension", "ApproveExtension", SUPERVISOR, EXTENSIBLE_STAGES, ("reason",)),
    ActionSpec("refuse_extension", "RefuseExtension", SUPERVISOR, EXTENSIBLE_STAGES, ("reason",)),
    ActionSpec("suspend_clock", "SuspendClock", STAFF, EXTENSIBLE_STAGES, ("cause", "reason")),
    ActionSpec("resume_clock", "ResumeClock", STAFF, (VERIFICATION, INVESTIGATION, PRIOR_NOTICE), ("reason",)),
    ActionSpec("propose_penalty", "ProposePenalty", STAFF, (INVESTIGATION,), (*PENALTY, "reason")),
    ActionSpec("record_statement", "RecordStatement", STAFF, (PRIOR_NOTICE,), ("reason",)),
    ActionSpec("request_hearing", "RequestHearing", STAFF, (PRIOR_NOTICE,), ("hearing_on",)),
    ActionSpec("record_hearing", "RecordHearing", STAFF, (HEARING,), ("reason",)),
    ActionSpec("submit_decision", "SubmitDecision", STAFF, (INVESTIGATION, PRIOR_NOTICE), (*PENALTY, "reason")),
    ActionSpec("approve_decision", "ApproveDecision", SUPERVISOR, (DECISION_APPROVAL,), ("reason",)),
    ActionSpec("record_service", "RecordService", STAFF, (DECIDED,), ("party_present",)),
    ActionSpec("record_payment", "RecordPayment", STAFF, (DECIDED,), ("amount_cny",)),
    ActionSpec("record_review", "RecordReview", STAFF, (DECIDED,), ("review_kind", "review_pending", "review_upheld")),
    ActionSpec("transfer", "TransferCase", STAFF, (VERIFICATION, INVESTIGATION),
          ("target_region_code", "target_authority", "reason")),
    ActionSpec("refer_to_association", "ReferToAssociation", STAFF, (VERIFICATION, INVESTIGATION),
          ("association_id", "reason")),
    # The association's answer (受理, 已采取自律措施, 不予受理); association_id is the caller's own.
    ActionSpec("answer_referral", "AnswerReferral", ASSOCIATION, (REFERRED,),
          ("referral_answer", "measure", "reason", "association_id")),
    ActionSpec("close", "CloseCase", STAFF, (DECIDED,), ("reason",)),
    # The registry entry an unregistered entity or a practitioner turned out to be (主体认定); the
    # service finds it in the registry and hands it over.
    ActionSpec("match_subject", "MatchCaseSubject", STAFF, UNDECIDED_STAGES,
               ("matched_agency", "matched_practitioner", "reason")),
    # Merging this case into another on the same conduct (并案) is a supervisor's act: it ends this
    # case and moves its reporters, which a handler may propose but not decide.
    ActionSpec("merge", "MergeCases", SUPERVISOR, (VERIFICATION, INVESTIGATION), ("into_case_id", "reason")),
    # The receiving office of a transfer (移送) accepts the case or returns it.
    ActionSpec("accept_transfer", "AcceptTransfer", STAFF, (AWAITING_ACCEPTANCE,), ("reason",)),
    ActionSpec("return_transfer", "ReturnTransfer", STAFF, (AWAITING_ACCEPTANCE,), ("reason",)),
)}


def actions_of_stage(stage: str) -> list[ActionSpec]:
    return [spec for spec in CASE_ACTIONS.values() if stage in spec.stages]
