"""The access table (issue 15, item 6): who may call each RPC, as a reviewed file
(tests/access_table.yaml) that tests/test_access_table.py holds the servers to, and its rendering
into the README between the markers below.

Each row is an RPC; each column a caller; each cell what that caller gets:
  allow   the gate admits it (any answer but PERMISSION_DENIED or UNAUTHENTICATED from the gate)
  deny    PERMISSION_DENIED at the gate (the role is not declared for the RPC)
  unauth  UNAUTHENTICATED (the token is expired, or not signed with a key trusted for its role)
  scope   refused by the region or association scope: PERMISSION_DENIED or NOT_FOUND where a caller
          of the thing's own region (or association) is answered otherwise
  same    answered as a caller of the thing's own region (or association) is: no scope applies
  blind   the probe names nothing its own region's (association's) caller finds (NOT_FOUND for both):
          it shows nothing about the scope
  —       the column does not apply (no role of the column may call the RPC)
Console routes (section `console`, columns the roles signed in with POST /signin, none for the
public; `expired` after a sign-in refused for an expired token; `forged` the sign-in cookie's
value replaced):
  open      the route's page or form handler answers (200, a redirect onwards, 400, 404 ...); a form
            posted empty gets past the console's own check of the visitor, not to the service
  signin    redirected to sign in (303 to /signin)
  forbidden 403: signed in, but not as a role the route serves
Linkage endpoint (section ipss.linkage.v1.AssociationLinkService, columns client certificates):
  handshake the TLS handshake fails (UNAVAILABLE)
  untested  not probed yet: the probe's request is invalid for the RPC (most case actions and the
          inspections service's RPCs, which need more than a case id, region or key)"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLE = Path(__file__).resolve().parent / "access_table.yaml"
README = ROOT / "README.md"
START, END = "<!-- access-table:start -->", "<!-- access-table:end -->"

ROLE_COLUMNS = ("public", "citizen", "handler", "supervisor", "inspector", "association", "operator", "admin",
                "machine")
# People's roles: every one is refused the RPCs only the suite's own processes call.
PEOPLE_COLUMNS = ROLE_COLUMNS[:-1]
COLUMNS = ROLE_COLUMNS + ("expired", "forged", "other_region", "other_association")
CONSOLE = "console"
CONSOLE_COLUMNS = ROLE_COLUMNS + ("expired", "forged")
LINKAGE = "ipss.linkage.v1.AssociationLinkService"
LINKAGE_COLUMNS = ("own", "other_association", "unregistered", "revoked", "foreign_ca")
OUTCOMES = ("allow", "deny", "unauth", "scope", "same", "blind", "—", "untested", "open", "signin", "forbidden",
            "handshake")
HEADINGS = {"other_region": "other region", "other_association": "other association",
            "own": "own certificate", "unregistered": "unregistered certificate", "revoked": "revoked certificate",
            "foreign_ca": "another CA's certificate"}
CELLS = {"allow": "✓", "deny": "✗", "unauth": "401", "scope": "scope", "same": "same", "blind": "?", "—": "—",
         "untested": "·",
         "open": "✓", "signin": "sign-in", "forbidden": "403",
         "handshake": "no TLS"}
LEGEND = ("✓ admitted; ✗ `PERMISSION_DENIED` at the gate; 401 `UNAUTHENTICATED`; scope: refused by the "
          "region or association scope (`PERMISSION_DENIED` or `NOT_FOUND`) where a caller of its own region "
          "or association is not; same: answered as its own region's or association's caller is; ?: the probe "
          "names nothing its own region's caller finds either; — no caller of the column may call it; · not "
          "probed yet (the request the probe sends is invalid for it). Console routes: ✓ the page answers, or the "
          "form is taken past the console's own check of the visitor (posted empty, it is refused as invalid "
          "there; a valid one still meets the service's check above); sign-in: redirected to sign in; 403: "
          "signed in as a role the route does not serve; public: not signed in; expired: after a sign-in "
          "refused for an expired token; forged: the sign-in cookie's value forged; machine: after a sign-in with the "
          "suite's own machine token, which the console refuses. machine: the suite's own processes (the worker, a "
          "service calling another), whose tokens only the machine key signs; the RPCs only they call admit no "
          "person, operator and admin included. The linkage endpoint's callers are client certificates "
          "(mutual TLS): no TLS: the handshake fails (`UNAVAILABLE`).")


def load(path: Path = TABLE) -> dict[str, dict[str, dict[str, str]]]:
    """{service: {rpc: {column: outcome}}}, as committed."""
    table = yaml.safe_load(path.read_text(encoding="utf-8"))
    for service, rows in table.items():
        for rpc, row in rows.items():
            assert tuple(row) == columns(service), (service, rpc, tuple(row))
            assert set(row.values()) <= set(OUTCOMES), (service, rpc, row)
    return table


def columns(section: str) -> tuple[str, ...]:
    return {CONSOLE: CONSOLE_COLUMNS, LINKAGE: LINKAGE_COLUMNS}.get(section, COLUMNS)


HEADER = """\
# The access table (issue 15, item 6): what each caller gets from each RPC. Reviewed by hand;
# tests/test_access_table.py calls every RPC as every caller and asserts this file, and the README's
# copy is rendered from it (tests/access_table.py). Columns: the roles (public = no token, each
# other role's token nationwide; machine: the suite's own processes, the machine key's token), an
# expired token and a forged one (signed with another key under the same issuer)
# of a role the RPC admits, a staff caller of another region than the thing asked about, an
# association's caller asking about another association. Outcomes: see tests/access_table.py.
# Regenerate from the servers' behaviour (then review the diff):
#   IPSS_ACCESS_TABLE_WRITE=1 .venv/bin/pytest tests/test_access_table.py -k sqlite
"""


def dump(table: dict[str, dict[str, dict[str, str]]], path: Path = TABLE) -> None:
    lines = [HEADER]
    for service, rows in table.items():
        lines.append(f"{service}:")
        for rpc, row in rows.items():
            cells = ", ".join(f"{column}: {row[column]}" for column in columns(service))
            name = f'"{rpc}"' if " " in rpc else rpc
            lines.append(f"  {name}: {{{cells}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def render(table: dict[str, dict[str, dict[str, str]]]) -> str:
    """The README's copy: one Markdown table per service."""
    out = [LEGEND, ""]
    for service, rows in table.items():
        shown = columns(service)
        out.append(f"`{service}`" if service != CONSOLE else "The console's routes")
        out.append("")
        out.append(f"| {'route' if service == CONSOLE else 'RPC'} | " + " | ".join(HEADINGS.get(c, c) for c in shown)
                   + " |")
        out.append("|---|" + "---|" * len(shown))
        for rpc, row in rows.items():
            name = f"`{rpc}`" if service == CONSOLE else rpc
            out.append(f"| {name} | " + " | ".join(CELLS[row[c]] for c in shown) + " |")
        out.append("")
    return "\n".join(out).rstrip("\n")


def readme_copy(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n")


def write_readme(table) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    README.write_text(text[:start] + "\n" + render(table) + "\n" + text[end:], encoding="utf-8")
