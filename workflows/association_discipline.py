"""An industry association's disciplinary measure on its member's credit record (行业自律惩戒记入
信用记录), public for its period and then no longer, by a durable timer.

The publicity period is planned from the decision's day on the rules file and the working-day
calendar (`association_discipline_publicity`), the measure is recorded on the credit record with
its last day of publicity, and from the next day, 00:00 China time, the registry is told the
publicity has ended. A measure the registry will not record (the agency is not the association's
member, the document number names another measure) ends the workflow `refused`, saying why.
One workflow per decision document (contracts.discipline.workflow_id)."""

from __future__ import annotations

from datetime import date, timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.discipline import DISCIPLINE_WORKFLOW, MEASURES, VIEW_QUERY, DisciplineReport, DisciplineView
    from rules.statutes import Rules
    from contracts.periods import PeriodPlan, PeriodQuestion
    from workflows.activities.periods import PeriodActivities
    from workflows.activities.registry import AgencySnapshot, DisciplineOrder, RegistryActivities
    from workflows.agency_suspension import lift_moment

PERIOD = "association_discipline_publicity"
# The registry's answers no retry can change: the measure is not recorded, and the view says why.
REFUSALS = ("NOT_FOUND", "FAILED_PRECONDITION", "INVALID_ARGUMENT")
CALENDAR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=4,
                             maximum_interval=timedelta(minutes=5))
SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
CALENDAR_TIMEOUT = timedelta(seconds=10)
SERVICE_TIMEOUT = timedelta(seconds=30)


@activity.defn(name="discipline.rules_version")
async def rules_version() -> str:
    """The rules version in force when the measure is reported: recorded in the history, so a
    later version never moves a publicity end already planned."""
    return Rules.load().version


class Refused(Exception):
    def __init__(self, because: str):
        super().__init__(because)
        self.because = because


@workflow.defn(name=DISCIPLINE_WORKFLOW)
class AssociationDisciplineWorkflow:
    def __init__(self) -> None:
        self.state = DisciplineView(stage="planning")

    @workflow.query(name=VIEW_QUERY)
    def view(self) -> DisciplineView:
        return self.state

    @workflow.run
    async def run(self, report: DisciplineReport) -> DisciplineView:
        try:
            await self._record(report)
        except Refused as refusal:
            self.state.stage, self.state.refused_because = "refused", refusal.because
            self._status(search_attributes.NEXT_DEADLINE.value_unset())
            return self.state
        ends_at = lift_moment(self.state.publicity_ends_on, report.calendar_offset_days)
        self._status(search_attributes.NEXT_DEADLINE.value_set(ends_at))
        await workflow.sleep(max(timedelta(0), ends_at - workflow.now()))
        await workflow.execute_activity_method(
            RegistryActivities.record_publicity_ended, self.state.credit_event_id,
            start_to_close_timeout=SERVICE_TIMEOUT, retry_policy=SERVICE_RETRY)
        self.state.stage = "ended"
        self._status(search_attributes.NEXT_DEADLINE.value_unset())
        return self.state

    async def _record(self, report: DisciplineReport) -> None:
        if report.measure not in MEASURES:
            raise Refused(f"未知的惩戒措施 unknown measure {report.measure!r}: one of {', '.join(MEASURES)}")
        try:
            date.fromisoformat(report.decided_on)
        except ValueError:
            raise Refused(f"处分决定日期无效 decided_on {report.decided_on!r} is not a date (YYYY-MM-DD)") from None
        plan = await self._plan(report.decided_on)
        self.state.publicity_period = PERIOD
        self.state.publicity_ends_on = plan.due_on
        self.state.provisional = bool(plan.provisional_years)
        self.state.stage = "recording"
        agency: AgencySnapshot = await self._registry(RegistryActivities.get_agency, report.agency_id)
        workflow.upsert_search_attributes([
            search_attributes.AGENCY_CREDIT_CODE.value_set(agency.credit_code),
            search_attributes.REGION_CODE.value_set(agency.region_code),
            search_attributes.CASE_STATUS.value_set(self.state.stage)])
        self.state.credit_event_id = await self._registry(
            RegistryActivities.record_association_discipline, DisciplineOrder(
                association_id=report.association_id, agency_id=report.agency_id, measure=report.measure,
                document_number=report.document_number, decided_on=report.decided_on,
                publicity_ends_on=plan.due_on))
        self.state.stage = "public"

    async def _plan(self, decided_on: str) -> PeriodPlan:
        version = await workflow.execute_local_activity(
            rules_version, start_to_close_timeout=CALENDAR_TIMEOUT, retry_policy=CALENDAR_RETRY)
        return await workflow.execute_local_activity_method(
            PeriodActivities.plan_period, PeriodQuestion(version, PERIOD, decided_on),
            start_to_close_timeout=CALENDAR_TIMEOUT, retry_policy=CALENDAR_RETRY)

    async def _registry(self, method, argument):
        try:
            return await workflow.execute_activity_method(
                method, argument, start_to_close_timeout=SERVICE_TIMEOUT, retry_policy=SERVICE_RETRY)
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type in REFUSALS:
                raise Refused(cause.message) from None
            raise

    def _status(self, deadline) -> None:
        workflow.upsert_search_attributes([search_attributes.CASE_STATUS.value_set(self.state.stage), deadline])
