"""Every RPC of every service in the generated `ipss` packages declares who may call it
((ipss.options.v1.access): its roles, or any_caller for every role; deny by default). The
modules are found by walking the generated tree, so a service added later is checked without
touching this file."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import ipss
from ipss.options.v1 import options_pb2
from suite import auth
from suite.grpc_server import allowed_roles

GENERATED = Path(next(iter(ipss.__path__)))


def generated_modules() -> list[str]:
    return sorted(".".join(("ipss", *path.relative_to(GENERATED).with_suffix("").parts))
                  for path in GENERATED.rglob("*_pb2.py"))


def methods() -> list:
    found = []
    for name in generated_modules():
        for service in importlib.import_module(name).DESCRIPTOR.services_by_name.values():
            found.extend(service.methods)
    return found


METHODS = methods()


def test_the_walk_finds_the_registry():
    names = {m.full_name for m in METHODS}
    assert "ipss.registry.v1.RegistryService.CreateAgency" in names
    assert "ipss.registry.v1.RegistryService.LookupAgencyPublic" in names


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.full_name)
def test_every_rpc_declares_the_roles_that_may_call_it(method):
    options = method.GetOptions()
    assert options.HasExtension(options_pb2.access), f"{method.full_name} has no (ipss.options.v1.access)"
    access = options.Extensions[options_pb2.access]
    roles = list(access.roles)
    if access.any_caller:
        assert not roles, f"{method.full_name} declares any_caller beside a list of roles"
        declared = frozenset(auth.ROLES)
    else:
        assert roles, f"{method.full_name} declares no roles"
        assert options_pb2.ROLE_UNSPECIFIED not in roles, f"{method.full_name} declares ROLE_UNSPECIFIED"
        assert len(set(roles)) == len(roles), f"{method.full_name} declares a role twice"
        assert len(roles) < len(auth.ROLES), f"{method.full_name} lists every role: declare any_caller instead"
        declared = frozenset(auth.role_from_proto(r) for r in roles)
    assert allowed_roles(f"/{method.containing_service.full_name}/{method.name}") == declared


def test_any_caller_admits_every_role_and_an_empty_declaration_none():
    assert auth.declared_roles(options_pb2.Access(any_caller=True)) == frozenset(auth.ROLES)
    assert auth.declared_roles(options_pb2.Access()) == frozenset()


def test_every_declarable_role_is_a_role_tokens_carry():
    declarable = {auth.role_from_proto(v.number) for v in options_pb2.Role.DESCRIPTOR.values if v.number}
    assert declarable == set(auth.ROLES)


@pytest.mark.parametrize("full_method", [
    "/ipss.registry.v1.RegistryService/NoSuchMethod",
    "/ipss.nosuch.v1.NoSuchService/CreateAgency",
    "/not-even-a-method",
])
def test_an_undeclared_method_has_no_roles(full_method):
    assert allowed_roles(full_method) is None
