"""A referral to an industry association (移交行业自律) as a round trip, on the time-skipping server:
the case waits for the association with the office's clock stopped; the association lists its
referrals and answers through the complaints service as itself (accepted, a measure taken that
closes the case, or declined, which returns the case to its stage with the days its period had
left); another association finds nothing. Dates on the 2026 calendar (see test_case_procedure)."""

from __future__ import annotations

import uuid

import grpc
import pytest

from ipss.complaints.v1 import complaints_pb2 as cpb
from tests.conftest import metadata
from tests.grpc_checks import error_info, field_reasons
from tests.test_case_procedure import OFFICE, Court, convened, deadline

ASSOCIATION = "assoc-bj-patent"
OTHER_ASSOCIATION = "assoc-sh-trademark"


@pytest.fixture(scope="module")
async def court(registry):
    async with convened(registry) as court:
        yield court


async def answer(court: Court, case_id: str, association: str = ASSOCIATION, key: str = "",
                 **fields) -> cpb.Referral:
    request = cpb.AnswerReferralRequest(idempotency_key=key or uuid.uuid4().hex, case_id=case_id, **fields)
    reply = await court.complaints.AnswerReferral(request, metadata=metadata(
        "association", subject=f"linkage:{association}", association_id=association))
    return reply.referral


async def refused_answer(court: Court, case_id: str, association: str = ASSOCIATION, **fields):
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await answer(court, case_id, association, **fields)
    error_info(refusal.value)
    return refusal.value


async def referrals(court: Court, association: str = ASSOCIATION, **fields) -> list[cpb.Referral]:
    reply = await court.complaints.ListReferrals(cpb.ListReferralsRequest(**fields), metadata=metadata(
        "association", subject=f"linkage:{association}", association_id=association))
    return list(reply.referrals)


async def _referred(court: Court) -> cpb.FileReportResponse:
    """Reported on Monday 03-02 (verification due 03-23), referred on Thursday 03-05."""
    await court.start_on("2026-03-02")
    filed = await court.report(await court.agency())
    await court.goto("2026-03-05")
    case = await court.act("ReferToAssociation", filed.case_id, association_id=ASSOCIATION,
                           reason="情节轻微，转行业自律处理")
    assert case.summary.stage == cpb.CASE_STAGE_REFERRED
    assert case.summary.status == "awaiting_association"
    assert deadline(case, "verify_and_open").state == "paused"
    assert case.summary.next_deadline == ""  # the office's clock stands still
    assert case.summary.referral.association_id == ASSOCIATION
    assert (case.summary.referral.sent_on, case.summary.referral.grounds) == ("2026-03-05", "情节轻微，转行业自律处理")
    assert case.allowed_actions == ["answer_referral"]
    return filed


async def test_accepted_then_a_measure_taken_closes_the_case(court: Court):
    filed = await _referred(court)
    [listed] = [r for r in await referrals(court, open_only=True) if r.case_id == filed.case_id]
    assert (listed.sent_on, listed.answer, listed.grounds) == ("2026-03-05", cpb.REFERRAL_ANSWER_UNSPECIFIED,
                                                               "情节轻微，转行业自律处理")
    await court.goto("2026-03-09")
    referral = await answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    assert (referral.answer, referral.answered_on) == (cpb.REFERRAL_ANSWER_ACCEPTED, "2026-03-09")
    view = await court.state(filed.case_id)
    assert (view.stage, view.status) == ("referred", "accepted_by_association")
    assert filed.case_id in [r.case_id for r in await referrals(court, open_only=True)]

    await court.goto("2026-03-20")
    referral = await answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_MEASURE_TAKEN, measure="约谈并责令整改")
    assert (referral.answer, referral.answered_on, referral.measure) == (
        cpb.REFERRAL_ANSWER_MEASURE_TAKEN, "2026-03-20", "约谈并责令整改")
    case = (await court.complaints.GetCase(cpb.GetCaseRequest(case_id=filed.case_id),
                                           metadata=metadata("handler", OFFICE))).case
    assert case.summary.stage == cpb.CASE_STAGE_CLOSED
    assert case.summary.outcome == cpb.CASE_OUTCOME_REFERRED_TO_ASSOCIATION
    assert deadline(case, "verify_and_open").state == "cancelled"
    measure = [e for e in case.timeline if e.action == "referral_measure_taken"]
    assert [(e.internal, e.data["measure"]) for e in measure] == [(False, "约谈并责令整改")]
    assert filed.case_id not in [r.case_id for r in await referrals(court, open_only=True)]
    assert filed.case_id in [r.case_id for r in await referrals(court)]
    status = await court.status(filed)
    assert any("约谈并责令整改" in m.text for m in status.messages)
    assert not any("情节轻微" in m.text for m in status.messages)  # the grounds stay internal

    # The final answer was given: another is refused.
    refusal = await refused_answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_DECLINED, reason="再议")
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_declined_returns_the_case_with_the_days_its_period_had_left(court: Court):
    filed = await _referred(court)
    await court.goto("2026-03-16")
    referral = await answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_DECLINED,
                            reason="该机构非本会会员")
    assert (referral.answer, referral.answer_reason) == (cpb.REFERRAL_ANSWER_DECLINED, "该机构非本会会员")
    case = (await court.complaints.GetCase(cpb.GetCaseRequest(case_id=filed.case_id),
                                           metadata=metadata("handler", OFFICE))).case
    assert case.summary.stage == cpb.CASE_STAGE_VERIFICATION
    assert deadline(case, "verify_and_open").state == "running"
    # 3 working days were used before the referral (03-03..03-05); the other 12 count from 03-17:
    # 03-17..03-20, 03-23..03-27, 03-30, 03-31, 04-01.
    assert deadline(case, "verify_and_open").due_on == "2026-04-01"
    declined = [e for e in case.timeline if e.action == "referral_declined"]
    assert [(e.internal, e.data["reason"]) for e in declined] == [(True, "该机构非本会会员")]
    # Back in the handler's queue, and theirs to act on.
    queue = await court.complaints.ListCases(cpb.ListCasesRequest(), metadata=metadata("handler", OFFICE))
    assert filed.case_id in [c.case_id for c in queue.cases]
    assert "open" in case.allowed_actions
    status = await court.status(filed)
    assert not any("非本会会员" in m.text for m in status.messages)

    refusal = await refused_answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    case = await court.act("OpenCase", filed.case_id)
    assert case.summary.stage == cpb.CASE_STAGE_INVESTIGATION


async def test_another_association_finds_nothing(court: Court):
    filed = await _referred(court)
    refusal = await refused_answer(court, filed.case_id, OTHER_ASSOCIATION, answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    assert refusal.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(refusal).reason == "CASE_NOT_FOUND"
    unknown = await refused_answer(court, "case-2026-110000-999999", OTHER_ASSOCIATION,
                                   answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    assert (unknown.code(), error_info(unknown).reason) == (grpc.StatusCode.NOT_FOUND, "CASE_NOT_FOUND")
    assert filed.case_id not in [r.case_id for r in await referrals(court, OTHER_ASSOCIATION)]
    # Naming another association lists nothing, as an unknown one would.
    assert await referrals(court, OTHER_ASSOCIATION, association_id=ASSOCIATION) == []
    # Staff name the association.
    staff = await court.complaints.ListReferrals(cpb.ListReferralsRequest(association_id=ASSOCIATION),
                                                 metadata=metadata("supervisor", OFFICE))
    assert filed.case_id in [r.case_id for r in staff.referrals]
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await court.complaints.ListReferrals(cpb.ListReferralsRequest(), metadata=metadata("supervisor", OFFICE))
    assert field_reasons(refusal.value) == {"association_id": "REFERRAL_ASSOCIATION_REQUIRED"}
    # Only the referred association answers: no officer, citizen or worker speaks for it.
    for role in ("handler", "supervisor", "operator", "citizen", "inspector"):
        with pytest.raises(grpc.aio.AioRpcError) as refusal:
            await court.complaints.AnswerReferral(cpb.AnswerReferralRequest(
                idempotency_key=uuid.uuid4().hex, case_id=filed.case_id, answer=cpb.REFERRAL_ANSWER_ACCEPTED),
                metadata=metadata(role, OFFICE))
        assert refusal.value.code() == grpc.StatusCode.PERMISSION_DENIED, role
    view = await court.state(filed.case_id)
    assert (view.stage, view.referral.answer) == ("referred", "")


async def test_a_measure_taken_names_the_measure_and_an_answer_given_twice_is_refused(court: Court):
    filed = await _referred(court)
    refusal = await refused_answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_MEASURE_TAKEN)
    assert refusal.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_reasons(refusal) == {"measure": "REFERRAL_MEASURE_REQUIRED"}
    refusal = await refused_answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_DECLINED)
    assert field_reasons(refusal) == {"reason": "REFERRAL_DECLINE_REASON_REQUIRED"}

    key = "answer-" + uuid.uuid4().hex
    first = await answer(court, filed.case_id, key=key, answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    again = await answer(court, filed.case_id, key=key, answer=cpb.REFERRAL_ANSWER_ACCEPTED)  # a retry: once
    assert first == again
    assert [t.action for t in (await court.state(filed.case_id)).timeline].count("referral_accepted") == 1
    refusal = await refused_answer(court, filed.case_id, answer=cpb.REFERRAL_ANSWER_ACCEPTED)
    assert refusal.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(refusal).reason == "REFERRAL_ALREADY_ACCEPTED"
