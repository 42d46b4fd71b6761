"""Histories of cases recorded by an earlier shape of the case workflow replay, command for
command, against today's code: a case in flight must survive a change of shape.

tests/histories/ holds the histories of the scenarios of tests/test_case_procedure.py as the
one-class workflow of 2026-12-04 ran them (fines paid on time and late, reviews pending and
revoking a decision, a suspension and its early end, a revocation reinstated, a hearing, clock
stops and extensions): gzipped JSON as `temporal workflow show --output json` writes it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json.gz"))


def test_the_recorded_histories_are_there():
    assert len(HISTORIES) >= 9


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.name.split(".")[0])
async def test_a_recorded_history_replays_on_todays_workflow(path: Path):
    workflow_id = path.name.split(".")[0]
    history = WorkflowHistory.from_json(workflow_id, gzip.decompress(path.read_bytes()).decode())
    await Replayer(workflows=WORKFLOWS).replay_workflow(history)
