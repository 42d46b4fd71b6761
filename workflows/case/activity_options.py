"""How the case workflow calls its activities: the services are retried (every minute at most)
until they answer, since a case must not lose a step to a service that is down for a while."""

from datetime import timedelta

from temporalio.common import RetryPolicy

SERVICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
ACTIVITY_TIMEOUT = timedelta(seconds=30)
RECORD_TIMEOUT = timedelta(seconds=10)
