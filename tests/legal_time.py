"""Moving a scenario's legal calendar and the time-skipping server's clock together: the services
read the legal day from a LegalClock, the workflows their clock from the server, and the two
stay a whole number of days apart (LegalClock.offset_days)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from temporalio.testing import WorkflowEnvironment

from suite import clock


class ScenarioClock(clock.LegalClock):
    """The services' legal day in a scenario, set by the test, and how far the time-skipping
    server's clock runs ahead of it."""

    def __init__(self, day: date) -> None:
        super().__init__()
        self.day = day

    def today(self) -> date:
        return self.day


async def start_on(env: WorkflowEnvironment, legal, legal_day: str) -> None:
    """A fresh scenario starts at 06:00 of a legal day, wherever the shared clock is, so that no
    scenario straddles a midnight."""
    now = (await env.get_current_time()).astimezone(clock.CHINA)
    six = datetime.combine(now.date() + timedelta(days=1), time(6), tzinfo=clock.CHINA)
    await env.sleep(six - now)
    legal.day = date.fromisoformat(legal_day)
    legal.offset_days = (six.date() - legal.day).days


async def goto(env: WorkflowEnvironment, legal, legal_day: str) -> None:
    """Move the legal calendar (and the workflows' clock with it) to the morning of a day."""
    target = date.fromisoformat(legal_day)
    assert target >= legal.day, f"time runs forward: {legal_day} is before {legal.day}"
    now = await env.get_current_time()
    legal.offset_days = (now.astimezone(clock.CHINA).date() - legal.day).days
    await env.sleep(timedelta(days=(target - legal.day).days))
    legal.day = target
