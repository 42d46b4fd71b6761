"""Uploads nobody referenced (and the upload log the per-caller quotas read, domain.UPLOAD_QUOTAS): an attachment is uploaded before the report (or the evidence) that
names it; one that no case references a day after it was uploaded (the report was never filed,
or the upload was abuse) is deleted by a periodic sweep in every replica (issue 15 item 7). The
sweep is one DELETE of what no case references: replicas sweeping at once delete nothing twice."""

from __future__ import annotations

from datetime import timedelta

from services.complaints import domain, store
from suite import clock
from suite import logging as suite_logging
from suite.relay import BackgroundRelay

log = suite_logging.get("complaints")

UNREFERENCED_UPLOAD_DAYS = 1
SWEEP_SECONDS = 3600.0


class UploadSweeper(BackgroundRelay):
    """Every SWEEP_SECONDS, deletes the uploads no case references that are older than a day."""

    def __init__(self, complaints: store.ComplaintsStore, seconds: float = SWEEP_SECONDS):
        super().__init__("complaints-upload-sweep")
        self.store = complaints
        self.seconds = seconds

    async def sweep(self) -> int:
        now = clock.now()
        gone = await self.store.sweep_unreferenced_attachments(now - timedelta(days=UNREFERENCED_UPLOAD_DAYS))
        # The upload log is only asked about its last window (the quotas'): older rows go too.
        await self.store.sweep_upload_log(now - max(q.window for q in (*domain.UPLOAD_QUOTAS.values(),
                                                                        domain.DEFAULT_UPLOAD_QUOTA)))
        if gone:
            log.info("unreferenced uploads deleted", count=gone)
        return gone

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as error:  # noqa: BLE001 - a database away now is tried again next round
                log.warning("upload sweep failed", error=type(error).__name__)
            await self._sleep(self.seconds)
