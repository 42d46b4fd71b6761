"""The registry of case actions (contracts.case_actions) against everything that reads it: the
complaints API serves each action's RPC and lets exactly its roles call it, every argument it
declares is a field of the workflow's CaseAction, and the workflow has a handler for each."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.case import CaseAction
from contracts.case_actions import CASE_ACTIONS, STAGES
from contracts.inspections import TASK_ACTIONS
from ipss.complaints.v1 import complaints_pb2 as pb
from ipss.inspections.v1 import inspections_pb2 as ipb
from services.complaints.api import ComplaintsApi
from services.inspections.api import InspectionsApi
from suite.grpc_server import allowed_roles
from workflows.case.actions import HANDLERS

SERVICE = pb.DESCRIPTOR.services_by_name["ComplaintsService"]
SPECS = sorted(CASE_ACTIONS.values(), key=lambda spec: spec.name)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_api_serves_the_action_to_exactly_its_roles(spec):
    assert spec.rpc in SERVICE.methods_by_name
    assert allowed_roles(f"/{SERVICE.full_name}/{spec.rpc}") == spec.roles
    assert spec.rpc in vars(ComplaintsApi)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_the_action_reads_fields_of_the_case_action_in_real_stages(spec):
    assert set(spec.arguments) <= {field.name for field in dataclasses.fields(CaseAction)}
    assert spec.stages and set(spec.stages) <= set(STAGES)



@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_action_has_its_label_in_the_catalogues(language):
    from babel.messages.pofile import read_po

    from suite import config

    path = config.REPO_ROOT / "console" / "locale" / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalogue = read_po(po)
    assert [spec.label for spec in SPECS if not (catalogue.get(spec.label) and catalogue.get(spec.label).string)] == []


def test_every_declared_action_has_a_handler():
    assert set(HANDLERS) == set(CASE_ACTIONS)


def test_the_console_has_a_form_for_every_action_posting_to_its_rpc():
    from console.forms import ACTION_FORMS

    # An association answers its referrals over the linkage endpoint, not at the officers' console.
    officers_actions = {s.name: s.rpc for s in SPECS if s.roles - {"association"}}
    assert {name: form.rpc for name, form in ACTION_FORMS.items()} == officers_actions
    assert officers_actions.keys() < {s.name for s in SPECS}


@pytest.mark.parametrize("spec", sorted(TASK_ACTIONS.values(), key=lambda spec: spec.name), ids=lambda spec: spec.name)
def test_the_inspections_api_serves_each_task_action_to_exactly_its_roles(spec):
    service = ipb.DESCRIPTOR.services_by_name["InspectionsService"]
    assert spec.rpc in service.methods_by_name and spec.rpc in vars(InspectionsApi)
    assert allowed_roles(f"/{service.full_name}/{spec.rpc}") == spec.roles
    request_fields = set(getattr(ipb, f"{spec.rpc}Request").DESCRIPTOR.fields_by_name)
    assert set(spec.arguments) <= request_fields
