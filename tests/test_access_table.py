"""The access table as documentation (issue 15, item 6): every RPC of the registry, complaints and
inspections services is called as every role, with no token, an expired token and a forged one,
and (where a scope applies) as a caller of another region or another association, over loopback to
real servers on fresh databases, once per backend; what each gets must be what the reviewed table
tests/access_table.yaml says, and the README's copy of the table must be its rendering.

The gate authorizes before it validates, so the role columns send an empty request: an admitted
caller gets anything but the gate's PERMISSION_DENIED or UNAUTHENTICATED. The scope columns need
requests that reach the scope checks: for the registry, tests/test_registry_api.py's
one_valid_request about an agency of Beijing (and a practitioner practising there) and a real
association, asked by a caller of Beijing (of that association) and by one of Shanghai (of another
association). For the complaints and inspections services (and the linkage endpoint), a request
naming a case filed about that agency, the agency, the region and a fresh idempotency key, each
other required field filled plainly: it reaches the scope check of many RPCs, the others refuse it
as invalid (`untested` in the table); one naming nothing that exists is `blind`. The association
column of those services is not probed yet.

The association linkage endpoint's callers are client certificates (mutual TLS): its own
association's, another association's (asking about the first one's member), one unregistered, one
revoked, one of another CA. The console's routes are asked through its ASGI app by a visitor with a
token cookie of each role (or none, or a refused one), each form posted empty with the visitor's
CSRF token.

IPSS_ACCESS_TABLE_WRITE=1 writes what the servers answer into the table and the README instead of
asserting it: review the diff before committing it."""

from __future__ import annotations

import os
import re
import uuid

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.hostile import Rpc, rpcs
from ipss.options.v1 import options_pb2
from ipss.registry.v1 import registry_pb2 as pb
from suite import auth, config, migrate, testdata
from tests import access_table
from tests.conftest import BACKENDS, COMPLAINTS_TRACKING_KEY, fresh_database, metadata, running_registry
from tests.grpc_checks import error_info
from tests.test_registry_api import agency_request, day, key, one_valid_request, practitioner_request, uid

pytestmark = pytest.mark.slow
Code = grpc.StatusCode
WRITE = bool(os.environ.get("IPSS_ACCESS_TABLE_WRITE"))
GATE_REASONS = ("ROLE_NOT_ALLOWED", "RPC_UNDECLARED")
STAFF = ("handler", "supervisor", "inspector", "operator", "admin")
HOME_REGION, OTHER_REGION = "110000", "310000"
OPERATOR = metadata("operator")
NO_CONNECTION = "(no connection)"
WORLD: dict = {}  # the records observe() made, for the linkage endpoint's probes
# The RPCs only the suite's own processes call: the worker's activities (workflows/activities/), the
# services' outbox relays, and the linkage endpoint asking which association a certificate names.
WORKFLOW_ONLY = {
    "ipss.registry.v1.RegistryService": {
        "RecordAssociationDiscipline", "RecordPublicityEnded", "ResolveAssociationCertificate", "AppendMemberEvents",
        "ListAnnualReportNonFilers", "EscalateAbnormalListings", "RecordCreditRepairStep"},
    "ipss.complaints.v1.ComplaintsService": {"RecordCaseProgress", "NotifyReporters"},
    "ipss.inspections.v1.InspectionsService": {"GetCampaignTargets", "RecordCampaignProgress", "RecordTaskProgress"},
}


@pytest.fixture(scope="module", params=BACKENDS)
async def channels(request, temporal_env):
    """The three services on fresh databases of one backend, their workflows on a task queue no
    worker polls (an update gives up after half a second)."""
    from temporalio.client import Client

    from services.complaints.server import build as build_complaints
    from services.inspections.server import build as build_inspections

    backend = request.param
    client = await Client.connect(temporal_env.client.service_client.config.target_host)
    queue = config.TemporalSettings("", "", f"access-{uuid.uuid4().hex[:8]}")
    async with running_registry(backend) as registry:
        with fresh_database(backend) as complaints_url, fresh_database(backend) as inspections_url:
            migrate.upgrade("complaints", database_url=complaints_url)
            migrate.upgrade("inspections", database_url=inspections_url)
            complaints_server, complaints = build_complaints(
                database_url=complaints_url, registry_address=registry.address, temporal_client=client,
                temporal_settings=queue, update_wait_seconds=0.5, key=COMPLAINTS_TRACKING_KEY)
            inspections_server, inspections = build_inspections(
                database_url=inspections_url, registry_address=registry.address, temporal_client=client,
                temporal_settings=queue, update_wait_seconds=0.5)
            ports = [await s.start("127.0.0.1:0") for s in (complaints_server, inspections_server)]
            opened = [grpc.aio.insecure_channel(f"127.0.0.1:{p}") for p in ports]
            try:
                yield {"registry": registry.channel, "complaints": opened[0], "inspections": opened[1],
                       "addresses": {"registry": registry.address, "complaints": f"127.0.0.1:{ports[0]}",
                                     "inspections": f"127.0.0.1:{ports[1]}"}}
            finally:
                for channel in opened:
                    await channel.close()
                for server in (complaints_server, inspections_server):
                    await server.stop(0)
                await complaints.close()
                await inspections.close()


def declared(rpc: Rpc) -> frozenset[str]:
    return auth.declared_roles(rpc.method.GetOptions().Extensions[options_pb2.access])


def caller(role: str, region: str = auth.NATIONWIDE, association_id: str = "", ttl_seconds: int = 3600,
           forged: bool = False) -> tuple[tuple[str, str], ...]:
    if role == "public":
        return ()
    return (("authorization", f"Bearer {token_of(role, region, association_id, ttl_seconds, forged)}"),)


def token_of(role: str, region: str = auth.NATIONWIDE, association_id: str = "", ttl_seconds: int = 3600,
             forged: bool = False) -> str:
    """The role's token: the machine key's for `machine`, the sign-in key's for a person; forged,
    signed by another key in the name of the same issuer."""
    if role == "association":
        association_id = association_id or "assoc-of-no-test"
    signer = auth.machine_signer() if role == "machine" else auth.signin_signer()
    if forged:
        signer = auth.Signer(signer.issuer, Ed25519PrivateKey.generate(), signer.roles)
    return signer.mint(role, f"access-{role}", region, association_id, ttl_seconds)


async def answer(channel, rpc: Rpc, request, md) -> tuple[Code, str]:
    """The status code an RPC answers a caller, and the refusal's reason."""
    call = channel.unary_unary(rpc.path, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=lambda raw: raw)
    try:
        await call(request, metadata=md, timeout=10)
    except grpc.aio.AioRpcError as error:
        if error.code() == Code.UNAVAILABLE and "failed to connect" in (error.details() or ""):
            return error.code(), NO_CONNECTION  # no TLS handshake: no answer of the suite's
        return error.code(), error_info(error).reason
    return Code.OK, ""


def at_gate(code: Code, reason: str) -> str:
    if code == Code.UNAUTHENTICATED:
        return "unauth"
    if code == Code.PERMISSION_DENIED and reason in GATE_REASONS:
        return "deny"
    if code == Code.PERMISSION_DENIED:
        return "scope"
    return "allow"


def scoped(home: tuple[Code, str], other: tuple[Code, str]) -> str:
    """`scope` where the other region's (association's) caller is refused and the home one is not;
    `blind` where the probe names nothing the home caller finds; `untested` where it is invalid."""
    if Code.INVALID_ARGUMENT in (home[0], other[0]):
        return "untested"
    if home[0] == Code.NOT_FOUND:
        return "blind"
    refused = other[0] in (Code.PERMISSION_DENIED, Code.NOT_FOUND)
    return "scope" if refused and home[0] != other[0] else "same"


async def registry_world(channel) -> dict:
    """An agency of Beijing with a practitioner practising there, and two associations, the first
    with the agency as its member."""
    from ipss.registry.v1 import registry_pb2_grpc as pb_grpc

    api = pb_grpc.RegistryServiceStub(channel)
    agency = (await api.CreateAgency(agency_request(region_code="110108"), metadata=OPERATOR)).agency
    person = (await api.RegisterPractitioner(practitioner_request(), metadata=OPERATOR)).practitioner
    person = (await api.FilePractice(pb.FilePracticeRequest(
        idempotency_key=key(), practitioner_id=person.id, agency_id=agency.id, filing_number=f"F{uid()}",
        started_on=day(-10)), metadata=OPERATOR)).practitioner
    associations = []
    for _ in range(2):
        associations.append((await api.CreateAssociation(pb.CreateAssociationRequest(
            idempotency_key=key(), name=f"访问表协会{uid()}", credit_code=testdata.credit_code("110000"),
            region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]), metadata=OPERATOR)).association.id)
    await api.AdmitMember(pb.AdmitMemberRequest(idempotency_key=key(), association_id=associations[0],
                                                agency_id=agency.id, joined_on=day(-5)), metadata=OPERATOR)
    return {"agency": agency, "person": person, "associations": associations}


async def complaints_world(channel, world: dict) -> None:
    """A case about the Beijing agency, filed by a handler (a staff source)."""
    from ipss.complaints.v1 import complaints_pb2 as cpb

    call = channel.unary_unary("/ipss.complaints.v1.ComplaintsService/FileReport",
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=cpb.FileReportResponse.FromString)
    answer = await call(cpb.FileReportRequest(
        idempotency_key=key(), source=cpb.REPORT_SOURCE_DEPARTMENT_TRANSFER,
        source_reference=f"国知办函〔2026〕{uid()}号", agency=cpb.ReportedAgency(credit_code=world["agency"].credit_code),
        category=cpb.VIOLATION_CATEGORY_FALSE_ADVERTISING, description=f"该机构承诺“包授权”，收费后未办理 {uid()}",
        occurred_on=day(-30)), metadata=metadata("handler"), timeout=10)
    assert answer.case_id
    world["case_id"] = answer.case_id


def registry_request(rpc: Rpc, world: dict):
    request = one_valid_request(rpc.method.name, world["agency"], world["person"])
    if "association_id" in request.DESCRIPTOR.fields_by_name:
        request.association_id = world["associations"][0]
    return request


def minimal_request(rpc: Rpc, world: dict):
    """A request naming the Beijing case, agency and region and a fresh idempotency key, with each
    other field its rules require filled plainly (a date, a region, a text of the least length, an
    enum's first value): it reaches the scope check of many RPCs; the others refuse it as invalid
    (`untested`)."""
    request = rpc.request_type()
    named = {"idempotency_key": key(), "case_id": world["case_id"], "region_code": HOME_REGION,
             "agency_id": world["agency"].id}
    for field in request.DESCRIPTOR.fields:
        if field.name in named and field.type == field.TYPE_STRING and not field.is_repeated:
            setattr(request, field.name, named[field.name])
            continue
        rules = field.GetOptions().Extensions[options_pb2.rules]
        if not rules.required or field.type == field.TYPE_MESSAGE:
            continue
        value = plain_value(field, rules, world)
        if value is None:
            continue
        if field.is_repeated:
            getattr(request, field.name).append(value)
        else:
            setattr(request, field.name, value)
    return request


def plain_value(field, rules, world: dict):
    if field.type == field.TYPE_STRING:
        if rules.pattern:
            return None
        if rules.date:
            return day(0)
        if rules.region_code:
            return "110108"
        if rules.credit_code:
            return world["agency"].credit_code
        if rules.resident_id:
            return testdata.resident_id()
        if rules.phone:
            return "13900000000"
        text = "依法核查的情况说明" * (1 + rules.min_len // 9)
        return text[:rules.max_len] if rules.max_len else text
    if field.type == field.TYPE_ENUM:
        return 1
    if field.type == field.TYPE_BOOL:
        return True
    return max(rules.min, 1) if rules.HasField("min") else 1


def probe(rpc: Rpc, world: dict):
    return registry_request(rpc, world) if rpc.service == "registry" else minimal_request(rpc, world)


async def observe(channels) -> dict[str, dict[str, dict[str, str]]]:
    """What every caller gets from every RPC, as the table's rows."""
    world = await registry_world(channels["registry"])
    await complaints_world(channels["complaints"], world)
    WORLD.clear()
    WORLD.update(world)
    table: dict[str, dict[str, dict[str, str]]] = {}
    for rpc in rpcs():
        channel, allowed = channels[rpc.service], declared(rpc)
        row = {}
        for role in access_table.ROLE_COLUMNS:
            row[role] = at_gate(*await answer(channel, rpc, rpc.request_type(), caller(role)))
        admitted = next((r for r in access_table.ROLE_COLUMNS[1:] if r in allowed), "operator")
        row["expired"] = at_gate(*await answer(channel, rpc, rpc.request_type(), caller(admitted, ttl_seconds=-60)))
        row["forged"] = at_gate(*await answer(channel, rpc, rpc.request_type(), caller(admitted, forged=True)))
        staff = next((r for r in STAFF if r in allowed), None)
        if staff is None:
            row["other_region"] = "—"
        else:  # the other region first: a refusal must not depend on what the home caller did
            other = await answer(channel, rpc, probe(rpc, world), caller(staff, OTHER_REGION))
            home = await answer(channel, rpc, probe(rpc, world), caller(staff, HOME_REGION))
            row["other_region"] = scoped(home, other)
        if "association" not in allowed:
            row["other_association"] = "—"
        elif rpc.service != "registry":
            row["other_association"] = "untested"
        else:
            own, another = world["associations"]
            other = await answer(channel, rpc, registry_request(rpc, world), caller("association",
                                                                                   association_id=another))
            home = await answer(channel, rpc, registry_request(rpc, world), caller("association",
                                                                                  association_id=own))
            row["other_association"] = scoped(home, other)
        table.setdefault(rpc.method.containing_service.full_name, {})[rpc.method.name] = row
    return table


# ---- the console's routes ---------------------------------------------------------------------------

def route_path(path: str) -> str:
    """The route's path with a value for each parameter: ids of nothing (the page or form answers
    past its role check), and an action of the kind the route takes."""
    from console import forms

    actions = forms.ACTION_FORMS
    if path.startswith("/inspections/actions"):
        actions = forms.NEW_PLAN_FORMS
    elif path.startswith("/inspections/campaigns"):
        actions = forms.CAMPAIGN_ACTION_FORMS
    elif path.startswith("/inspections/plans"):
        actions = forms.PLAN_ACTION_FORMS
    elif path.startswith("/inspections/tasks"):
        actions = forms.TASK_ACTION_FORMS
    values = {"case_id": "case-2026-110000-999999", "action": next(iter(actions)), "escalation_id": "1",
              "notification_id": "1", "campaign_id": "campaign-nosuch", "plan_id": "plan-2026-9999",
              "task_id": "task-nosuch", "repair_id": "cr-nosuchrepair", "lang": "en"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda found: values[found.group(1)], path)


def console_routes(app) -> list[tuple[str, str]]:
    from starlette.routing import Route

    found = []
    for route in app.routes:
        if isinstance(route, Route):
            methods = route.methods or {"GET"}
            found += [(method, route.path) for method in ("GET", "POST") if method in methods]
    return found


def at_console(answer) -> str:
    if answer.status_code in (302, 303, 307) and answer.headers.get("location", "").startswith("/signin"):
        return "signin"
    if answer.status_code == 403:
        return "forbidden"
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    return "open"


async def observe_console(addresses) -> dict[str, dict[str, str]]:
    """What each visitor gets from each route of the console (through its ASGI app, against the
    three services): signed in (POST /signin) with a token of each role, or not at all; having
    tried to sign in with an expired token; with the sign-in cookie's value forged. Each form is
    posted with the visitor's CSRF token (from a page) and no fields."""
    import httpx

    from console.app import build
    from console.settings import Settings

    settings = Settings(addresses["registry"], addresses["complaints"],
                        dev_signin=True, inspections_address=addresses["inspections"])
    app = build(settings)
    tokens = {role: "" if role == "public" else token_of(role) for role in access_table.ROLE_COLUMNS}
    tokens["expired"] = token_of("operator", ttl_seconds=-60)
    tokens["forged"] = token_of("operator")
    table: dict[str, dict[str, str]] = {}

    async def visit(client, column: str) -> str:
        """Sign the column's visitor in; its CSRF token."""
        client.cookies.clear()
        if tokens[column]:
            await client.post("/signin", data={"token": tokens[column]})
        if column == "machine":  # the console signs no machine in: no cookie for it
            assert not list(client.cookies.jar), "the console took a machine token"
        if column == "forged":  # the cookie the console set, its value replaced
            assert list(client.cookies.jar), "the console set no sign-in cookie"
            for cookie in client.cookies.jar:
                cookie.value = "forged-" + uid()
        return csrf_of(app, client)

    try:
        for column in access_table.CONSOLE_COLUMNS:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://console") as client:
                csrf = await visit(client, column)
                for method, path in console_routes(app):
                    url = route_path(path)
                    if method == "GET":
                        answer = await client.get(url)
                    else:
                        answer = await client.post(url, data={"csrf": csrf} if csrf else {})
                    table.setdefault(f"{method} {path}", {})[column] = at_console(answer)
                    if path in ("/signout", "/signin", "/signin/dev"):  # who is signed in may have changed
                        csrf = await visit(client, column)
    finally:
        await app.state.backend.close()
    return table


def csrf_of(app, client) -> str:
    """The CSRF token the console gives the client's visitor on its forms."""
    from starlette.requests import Request

    cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
    request = Request({"type": "http", "method": "GET", "path": "/", "query_string": b"",
                       "headers": [(b"cookie", cookie.encode())] if cookie else []})
    pages = app.state.pages
    return pages.csrf(pages.visitor(request))


# ---- the association linkage endpoint ------------------------------------------------------------

async def observe_linkage(channels, world: dict) -> dict[str, dict[str, str]]:
    """What each client certificate gets from each RPC of the linkage endpoint (mutual TLS): its own
    association's registered certificate; another association's, asking about the first one's
    member (and case); one the CA issued but nobody registered; a revoked one; one of another CA.
    The requests name the member agency, the case and a fresh key, and are otherwise empty."""
    import tempfile
    from pathlib import Path
    from types import SimpleNamespace

    from ipss.linkage.v1 import linkage_pb2
    from services.linkage import enrolment
    from suite import tls
    from tests.test_linkage import start_link, stop_link

    registry = SimpleNamespace(address=channels["addresses"]["registry"], channel=channels["registry"])
    own, another = world["associations"]
    with tempfile.TemporaryDirectory(prefix="ipss-access-certs-") as directory, \
            tempfile.TemporaryDirectory(prefix="ipss-access-stranger-") as elsewhere:
        certs = Path(directory)
        link = await start_link(registry, certs, complaints_address=channels["addresses"]["complaints"])
        try:
            # A member of its own (the registry's probes ended the first one's membership).
            from ipss.registry.v1 import registry_pb2_grpc as pb_grpc
            api = pb_grpc.RegistryServiceStub(channels["registry"])
            member = (await api.CreateAgency(agency_request(region_code="110108"), metadata=OPERATOR)).agency
            await api.AdmitMember(pb.AdmitMemberRequest(idempotency_key=key(), association_id=own,
                                                        agency_id=member.id, joined_on=day(-5)), metadata=OPERATOR)
            world = {**world, "agency": member}
            revoked = (await _new_association(channels["registry"])).id
            await enrolment.issue_certificates([own, another, revoked], days=30, registry_address=registry.address,
                                               directory=certs)
            await enrolment.revoke_certificate(revoked, registry.address, certs)
            authority = tls.authority_pair(certs)
            unregistered = tls.issue_client(authority, tls.association_pair("unregistered", certs), own)
            stranger_ca = tls.make_authority(tls.authority_pair(Path(elsewhere)))
            foreign = tls.issue_client(stranger_ca, tls.association_pair(own, Path(elsewhere)), own)
            pairs = {"own": tls.association_pair(own, certs), "other_association": tls.association_pair(another, certs),
                     "unregistered": unregistered, "revoked": tls.association_pair(revoked, certs),
                     "foreign_ca": foreign}
            opened = {column: link.channel_with(pair) for column, pair in pairs.items()}
            table: dict[str, dict[str, str]] = {}
            try:
                for service in linkage_pb2.DESCRIPTOR.services_by_name.values():
                    for method in service.methods:
                        rpc = Rpc("linkage", method)
                        answers = {column: await linkage_answer(opened[column], rpc, minimal_request(rpc, world))
                                   for column in access_table.LINKAGE_COLUMNS}
                        row = {column: linkage_outcome(*answered) for column, answered in answers.items()}
                        row["other_association"] = scoped(answers["own"], answers["other_association"])
                        table[method.name] = row
            finally:
                for channel in opened.values():
                    await channel.close()
        finally:
            await stop_link(link)
    return table


async def _new_association(channel):
    from ipss.registry.v1 import registry_pb2_grpc as pb_grpc

    return (await pb_grpc.RegistryServiceStub(channel).CreateAssociation(pb.CreateAssociationRequest(
        idempotency_key=key(), name=f"访问表协会{uid()}", credit_code=testdata.credit_code("110000"),
        region_code="110000", kinds=[pb.AGENCY_KIND_PATENT]), metadata=OPERATOR)).association


async def linkage_answer(channel, rpc: Rpc, request) -> tuple[Code, str]:
    """As answer(), for a certificate's channel; a watch is read for a second (waiting is being
    admitted)."""
    if not rpc.streaming:
        return await answer(channel, rpc, request, ())
    call = channel.unary_stream(rpc.path, request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=lambda raw: raw)
    try:
        async for _ in call(request, timeout=1):
            break
    except grpc.aio.AioRpcError as error:
        if error.code() == Code.UNAVAILABLE and "failed to connect" in (error.details() or ""):
            return error.code(), NO_CONNECTION
        if error.code() == Code.DEADLINE_EXCEEDED:  # admitted, waiting for an event
            return error.code(), ""
        return error.code(), error_info(error).reason
    return Code.OK, ""


def linkage_outcome(code: Code, reason: str) -> str:
    if reason == NO_CONNECTION:
        return "handshake"
    return at_gate(code, reason)


async def test_every_rpc_answers_every_caller_as_the_access_table_says(channels):
    observed = await observe(channels)
    observed[access_table.LINKAGE] = await observe_linkage(channels, WORLD)
    observed[access_table.CONSOLE] = await observe_console(channels["addresses"])
    if WRITE:
        access_table.dump(observed)
        access_table.write_readme(observed)
        return
    expected = access_table.load()
    differences = [f"{service}/{rpc} {column}: table says {expected.get(service, {}).get(rpc, {}).get(column)}, "
                   f"the server answers {outcome}"
                   for service, rows in observed.items() for rpc, row in rows.items()
                   for column, outcome in row.items()
                   if expected.get(service, {}).get(rpc, {}).get(column) != outcome]
    missing = [f"{service}/{rpc}: in the table, not served" for service, rows in expected.items() for rpc in rows
               if rpc not in observed.get(service, {})]
    assert not differences + missing, "\n".join(differences + missing)


def test_the_readme_shows_the_access_table():
    text = access_table.README.read_text(encoding="utf-8")
    assert access_table.readme_copy(text) == access_table.render(access_table.load()), (
        "README.md's access table differs from tests/access_table.yaml: rerun "
        "`python -c 'from tests import access_table as t; t.write_readme(t.load())'`")


def test_the_public_reaches_no_officer_rpc_and_bad_tokens_reach_nothing():
    """Sense checks on the reviewed table itself, whatever the servers do."""
    table = access_table.load()
    for service, rows in table.items():
        for rpc, row in rows.items():
            if service == access_table.LINKAGE:  # only a registered certificate of the suite's CA is heard
                assert (row["unregistered"], row["revoked"], row["foreign_ca"]) == ("unauth", "unauth", "handshake")
                continue
            if service == access_table.CONSOLE:  # a refused token cookie is no cookie
                assert row["expired"] == row["forged"] == row["machine"] == row["public"], rpc
                continue
            assert row["expired"] == row["forged"] == "unauth", (service, rpc)
            if row["public"] != "allow":  # officers' RPCs: no token is UNAUTHENTICATED, a citizen denied
                assert row["public"] == "unauth" and row["citizen"] == "deny", (service, rpc)


def test_what_only_workflows_and_services_call_admits_no_person():
    """Every person (operator and admin included) is refused the RPCs the suite's own processes
    call, and those are the only RPCs the machine role alone may call."""
    table = access_table.load()
    machine_only = {service: {rpc for rpc, row in rows.items() if row.get("machine") == "allow"
                              and all(row[person] in ("deny", "unauth") for person in access_table.PEOPLE_COLUMNS)}
                    for service, rows in table.items() if service in WORKFLOW_ONLY}
    assert machine_only == WORKFLOW_ONLY
    for service, rpcs_of in WORKFLOW_ONLY.items():
        for rpc in rpcs_of:
            assert table[service][rpc]["operator"] == table[service][rpc]["admin"] == "deny", rpc
