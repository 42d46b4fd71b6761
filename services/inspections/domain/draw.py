"""The double-random draw (双随机抽取), algorithm version `ipss-draw/2`: a pure, deterministic
function of public data. The same plan, seed, snapshot and inspector pool give the same targets
and pairings byte for byte, on any machine, so anyone can recompute a published draw
(`ipss draw verify`).

Specification of ipss-draw/2
============================

Inputs, all published in the draw record:

- plan: regions, agency kinds, `all_in_scope`, sampling ratios, k = inspectors per target (k >= 2);
- seed: the seed value exactly as entered (UTF-8), taken from a public source after the
  snapshot hash was published;
- snapshot: one entry per agency in scope, ``[credit_code, name, region_code, kind, grade, raised]``,
  sorted by credit code; its hash Hs. `raised` is ``higher_inspection_ratio`` for an agency under
  that joint punishment measure (联合惩戒: 提高抽查比例) on the snapshot's day, else empty;
- pool: one entry per inspector whose office lies in the plan's regions,
  ``[inspector_id, region_code, [excluded credit codes], [excluded region codes]]``, sorted by
  id, each list sorted (the reasons of exclusions are not published); its hash Hp.

Canonical form of a value: JSON in UTF-8 with object keys sorted, no whitespace (separators
``,`` and ``:``) and non-ASCII characters written as themselves. A hash is the SHA-256 of the
canonical form, in lower-case hex. `US` below is the byte 0x1F.

1. Risk class (信用风险分类) of an agency: high when its entry is `raised`; otherwise from its
   credit grade: A low, B general, C elevated, D high.
2. Stratum of an agency: (region_code, kind, risk class).
3. Ratio of a stratum, in basis points: 10000 when the plan is `all_in_scope`; otherwise the
   most specific sampling ratio of its risk class that matches it (a ratio matches when its kind
   is unspecified or equal, and its region is empty or contains the stratum's region): the
   longest significant region prefix wins, then a named kind over any kind.
4. Sample size of a stratum of N agencies at r basis points: n = ceil(N * r / 10000), computed
   in integers as (N * r + 9999) // 10000. The rounding rule is upward: a non-empty stratum with
   a positive ratio always yields at least one target.
5. Key of an agency: SHA-256(V US "target" US seed US Hs US credit_code), the raw
   32 bytes. Within each stratum the agencies are ordered by ascending key and the first n drawn.
6. The drawn targets, across strata, are ordered by ascending key.
7. Inspectors: cycle c (c = 0, 1, 2, ...) orders the whole pool by ascending
   SHA-256(V US "inspectors" US seed US Hs US Hp US c US inspector_id), c written in
   decimal; the cycles one after another form a sequence S, and a cursor starts at position 0.
   For each target in order, S is walked from the cursor and the first k inspectors who may
   inspect it (none of their exclusions names its credit code or a region containing its
   region) and are not yet chosen for it are assigned, in the order met; the cursor moves to
   the position after the last one chosen. Inspectors thus take turns, and the pairs change
   from one cycle to the next. If 2 * |pool| positions from the cursor do not yield k
   inspectors, the target cannot be staffed and the whole draw fails, naming it: any 2 * |pool|
   consecutive positions contain a complete cycle, so this happens exactly when fewer than k
   inspectors of the pool may inspect the target.
8. Result: ``{"algorithm_version", "strata": [[region_code, kind, risk, population,
   basis_points, drawn], ...] sorted, "targets": [[credit_code, region_code, kind, risk,
   [inspector ids]], ...] in the order of step 6}``; its hash Hr.

The commitment (record format ipss-draw-record/2)
=================================================

Before the draw, when its snapshot is taken, a plan commits publicly to
``{"plan_id", "algorithm_version", "snapshot_hash", "snapshot_as_of", "pool_hash", "seed_source",
"seed_available_on", "committed_at"}``: the seed source is named before its value is published
(on `seed_available_on`, not before the commitment's day), and the pool is fixed with the
snapshot. Its hash (of the canonical form) is published with the plan. The draw takes the seed
from that source alone, not before that day, and its record repeats the commitment with its
hash and the legal day of the draw (`drawn_on`); a re-check finds the commitment's hash, its
agreement with the record's plan, seed source, snapshot, pool and algorithm, and that it
preceded the draw. A supervisor thus cannot try seeds for an outcome that suits: the source was
named, publicly, before anyone knew its value. Records of format ipss-draw-record/1 (no
commitment) still re-check as before.

Until the plan's results are published, the public copy of a record withholds the pairings: the
result's inspector lists and the pool's entries (whose exclusion lists tell each inspector's
conflicts) are left out (`"pairings_withheld": true`), and a re-check recomputes the strata and
the targets, which do not depend on the pool (steps 1–6).

V is the algorithm version as written in the record (``ipss-draw/2``). A change of any of these
steps is a new algorithm version; records keep the version they were drawn with, and a re-check
refuses a version it does not implement. ipss-draw/1, still re-checked, differs in step 1 alone:
its entries have no `raised` column and the risk class comes from the grade.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from suite.errors import FailedPrecondition

ALGORITHM_VERSION = "ipss-draw/2"
FIRST_VERSION = "ipss-draw/1"
# The versions a re-check recomputes: every one a published record may carry.
IMPLEMENTED = (FIRST_VERSION, ALGORITHM_VERSION)
# Targets added to a campaign after its draw are keyed as they were before ipss-draw/2, which
# changed nothing of step 7.
ADDITION_KEY_VERSION = FIRST_VERSION
FIRST_RECORD_FORMAT = "ipss-draw-record/1"
RECORD_FORMAT = "ipss-draw-record/2"
RECORD_FORMATS = (FIRST_RECORD_FORMAT, RECORD_FORMAT)
FULL_RATIO = 10000
US = b"\x1f"

RISK_CLASSES = ("low", "general", "elevated", "high")
RISK_OF_GRADE = {"A": "low", "B": "general", "C": "elevated", "D": "high"}
# The snapshot's sixth column of an agency under the joint punishment measure raising its ratio.
RAISED = "higher_inspection_ratio"


def risk_class(entry: Sequence[str], algorithm: str = ALGORITHM_VERSION) -> str:
    """Step 1: the risk class of a snapshot entry."""
    if algorithm != FIRST_VERSION and len(entry) > 5 and entry[5] == RAISED:
        return "high"
    return RISK_OF_GRADE[entry[4]]


def canonical(value: Any) -> bytes:
    """The canonical form every hash of the draw is taken over."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def significant_prefix(region_code: str) -> str:
    """The digits of a division code that name it: 110000 → 11, 110100 → 1101, 110108 → 110108."""
    if region_code.endswith("0000"):
        return region_code[:2]
    if region_code.endswith("00"):
        return region_code[:4]
    return region_code


@dataclass(frozen=True)
class Ratio:
    risk: str  # one of RISK_CLASSES
    kind: str  # an agency kind word, or "" for any kind
    region_code: str  # "" for any region of the plan
    basis_points: int

    def to_data(self) -> dict[str, Any]:
        return {"risk": self.risk, "kind": self.kind, "region_code": self.region_code,
                "basis_points": self.basis_points}


@dataclass(frozen=True)
class PlanSpec:
    plan_id: str
    regions: tuple[str, ...]
    kinds: tuple[str, ...]
    all_in_scope: bool
    ratios: tuple[Ratio, ...]
    inspectors_per_target: int

    def to_data(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "regions": list(self.regions), "kinds": list(self.kinds),
                "all_in_scope": self.all_in_scope, "ratios": [r.to_data() for r in self.ratios],
                "inspectors_per_target": self.inspectors_per_target}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PlanSpec:
        return cls(plan_id=data["plan_id"], regions=tuple(data["regions"]), kinds=tuple(data["kinds"]),
                   all_in_scope=bool(data["all_in_scope"]),
                   ratios=tuple(Ratio(r["risk"], r["kind"], r["region_code"], int(r["basis_points"]))
                                for r in data["ratios"]),
                   inspectors_per_target=int(data["inspectors_per_target"]))


# An agency as the snapshot holds it: [credit_code, name, region_code, kind, grade, raised].
SnapshotEntry = Sequence[str]
# An inspector as the pool holds them: [inspector_id, region_code, [credit codes], [region codes]].
PoolEntry = Sequence[Any]


def snapshot_entries(rows: Iterable[SnapshotEntry]) -> list[list[str]]:
    """Snapshot rows in their canonical order (by credit code)."""
    return sorted(([str(v) for v in row] for row in rows), key=lambda row: row[0])


def pool_entries(rows: Iterable[PoolEntry]) -> list[list[Any]]:
    """Pool rows in their canonical order (by id), exclusion lists sorted and without repeats."""
    return sorted(([str(i), str(region), sorted(set(codes)), sorted(set(regions))] for i, region, codes, regions in rows),
                  key=lambda row: row[0])


@dataclass(frozen=True)
class Outcome:
    """A draw's result, its canonical bytes and their hash."""

    result: dict[str, Any]
    canonical_bytes: bytes
    result_hash: str

    @property
    def targets(self) -> list[list[Any]]:
        return self.result["targets"]


class Unstaffable(FailedPrecondition):
    def __init__(self, credit_code: str, eligible: int, needed: int):
        super().__init__("TARGET_UNSTAFFABLE",
                         f"target {credit_code} cannot be staffed: {eligible} inspector(s) of the pool may inspect it, "
                         f"{needed} are needed; nothing was drawn", subject=credit_code, violation_type="CONFLICT",
                         credit_code=credit_code, eligible=eligible, needed=needed)
        self.credit_code = credit_code


def stratum_ratio(plan: PlanSpec, region_code: str, kind: str, risk: str) -> int:
    if plan.all_in_scope:
        return FULL_RATIO
    best: tuple[int, int] | None = None
    ratio = 0
    for rule in plan.ratios:
        if rule.risk != risk or rule.kind not in ("", kind):
            continue
        prefix = significant_prefix(rule.region_code) if rule.region_code else ""
        if not region_code.startswith(prefix):
            continue
        rank = (len(prefix), 1 if rule.kind else 0)
        if best is None or rank > best:
            best, ratio = rank, rule.basis_points
    return ratio


def sample_size(population: int, basis_points: int) -> int:
    return (population * basis_points + FULL_RATIO - 1) // FULL_RATIO


def draw(plan: PlanSpec, seed: str, snapshot: Sequence[SnapshotEntry], snapshot_hash: str,
         pool: Sequence[PoolEntry] | None, pool_hash: str, algorithm: str = ALGORITHM_VERSION) -> Outcome:
    """Steps 1–8 of the specification (of `algorithm`, one of IMPLEMENTED). `snapshot` and `pool`
    are in canonical order. Without a pool (None), steps 1–6 alone: the targets with empty
    inspector lists."""
    target_base = hashlib.sha256(US.join([algorithm.encode(), b"target", seed.encode(),
                                          snapshot_hash.encode(), b""]))
    strata: dict[tuple[str, str, str], list[tuple[bytes, str, str, str, str]]] = {}
    for entry in snapshot:
        code, _name, region, kind = entry[:4]
        key = target_base.copy()
        key.update(code.encode())
        risk = risk_class(entry, algorithm)
        strata.setdefault((region, kind, risk), []).append((key.digest(), code, region, kind, risk))
    drawn: list[tuple[bytes, str, str, str, str]] = []
    strata_rows = []
    for stratum in sorted(strata):
        members = strata[stratum]
        ratio = stratum_ratio(plan, *stratum)
        n = sample_size(len(members), ratio)
        if n:
            members.sort()
            drawn.extend(members[:n])
        strata_rows.append([*stratum, len(members), ratio, n])
    drawn.sort()
    if pool is None:
        targets = [[code, region, kind, risk, []] for _key, code, region, kind, risk in drawn]
        result = {"algorithm_version": algorithm, "strata": strata_rows, "targets": targets}
        return Outcome(result, canonical(result), sha256_hex(result))
    pairing = Pairing(pool, US.join([algorithm.encode(), b"inspectors", seed.encode(), snapshot_hash.encode(),
                                     pool_hash.encode()]), plan.inspectors_per_target)
    targets = [[code, region, kind, risk, pairing.staff(code, region)] for _key, code, region, kind, risk in drawn]
    result = {"algorithm_version": algorithm, "strata": strata_rows, "targets": targets}
    data = canonical(result)
    return Outcome(result, data, hashlib.sha256(data).hexdigest())


class Pairing:
    """Step 7: inspectors taking turns along keyed shuffles of the pool, skipping exclusions."""

    def __init__(self, pool: Sequence[PoolEntry], key_material: bytes, per_target: int):
        self.ids = [str(entry[0]) for entry in pool]
        self.excluded_codes = {str(e[0]): frozenset(e[2]) for e in pool if e[2]}
        self.excluded_prefixes = {str(e[0]): tuple(significant_prefix(r) for r in e[3]) for e in pool if e[3]}
        self.key_material = key_material
        self.per_target = per_target
        self.cycles: list[list[str]] = []
        self.cursor = 0

    def _cycle(self, number: int) -> list[str]:
        while len(self.cycles) <= number:
            base = hashlib.sha256(self.key_material + US + str(len(self.cycles)).encode() + US)

            def key(inspector_id: str, base=base) -> bytes:
                digest = base.copy()
                digest.update(inspector_id.encode())
                return digest.digest()
            self.cycles.append(sorted(self.ids, key=key))
        return self.cycles[number]

    def may_inspect(self, inspector_id: str, credit_code: str, region_code: str) -> bool:
        if credit_code in self.excluded_codes.get(inspector_id, ()):
            return False
        return not any(region_code.startswith(p) for p in self.excluded_prefixes.get(inspector_id, ()))

    def staff(self, credit_code: str, region_code: str) -> list[str]:
        size = len(self.ids)
        chosen: list[str] = []
        position = self.cursor
        for position in range(self.cursor, self.cursor + 2 * size):
            inspector = self._cycle(position // size)[position % size]
            if inspector not in chosen and self.may_inspect(inspector, credit_code, region_code):
                chosen.append(inspector)
                if len(chosen) == self.per_target:
                    self.cursor = position + 1
                    return chosen
        eligible = sum(self.may_inspect(i, credit_code, region_code) for i in self.ids)
        raise Unstaffable(credit_code, eligible, self.per_target)


def assign(targets: Sequence[tuple[str, str]], pool: Sequence[PoolEntry], key_material: str,
           per_target: int) -> list[list[str]]:
    """Inspectors for targets added after a draw ((credit_code, region_code) pairs), by step 7
    with its own key material; fails as a draw does when a target cannot be staffed."""
    pairing = Pairing(pool, US.join([ADDITION_KEY_VERSION.encode(), b"addition", key_material.encode()]), per_target)
    return [pairing.staff(code, region) for code, region in targets]


# ---- the published record and its re-check ----------------------------------------------------

def commitment(plan_id: str, snapshot_hash: str, snapshot_as_of: str, pool_hash: str, seed_source: str,
               seed_available_on: str, committed_at: str, algorithm: str = ALGORITHM_VERSION) -> dict[str, Any]:
    """What a plan commits to before its draw; published with its hash (sha256_hex of it)."""
    return {"plan_id": plan_id, "algorithm_version": algorithm, "snapshot_hash": snapshot_hash,
            "snapshot_as_of": snapshot_as_of, "pool_hash": pool_hash, "seed_source": seed_source,
            "seed_available_on": seed_available_on, "committed_at": committed_at}


def record_document(plan: PlanSpec, seed_value: str, seed_source: str, snapshot: Sequence[SnapshotEntry],
                    snapshot_hash: str, as_of: str, pool: Sequence[PoolEntry], pool_hash: str,
                    outcome: Outcome, drawn_at: str, committed: dict[str, Any] | None = None,
                    drawn_on: str = "") -> dict[str, Any]:
    document = {"format": FIRST_RECORD_FORMAT, "plan": plan.to_data(),
                "seed": {"value": seed_value, "source": seed_source},
                "snapshot": {"hash": snapshot_hash, "as_of": as_of, "entries": [list(e) for e in snapshot]},
                "pool": {"hash": pool_hash, "entries": [list(e) for e in pool]},
                "algorithm_version": outcome.result["algorithm_version"], "result": outcome.result,
                "result_hash": outcome.result_hash,
                "drawn_at": drawn_at}
    if committed is not None:
        document.update(format=RECORD_FORMAT, commitment=committed, commitment_sha256=sha256_hex(committed),
                        drawn_on=drawn_on)
    return document


def withhold_pairings(document: dict[str, Any]) -> dict[str, Any]:
    """The public copy of a record before the plan's results are published: no inspector lists,
    no pool entries (their exclusion lists name each inspector's conflicts)."""
    public = dict(document, pairings_withheld=True)
    public["pool"] = {"hash": document["pool"]["hash"], "entries": None}
    result = document["result"]
    public["result"] = dict(result, targets=[[*target[:4], []] for target in result["targets"]])
    return public


def commitment_problems(document: dict[str, Any]) -> list[str]:
    """Whether the record kept the plan's commitment, and the commitment preceded the draw."""
    committed = document.get("commitment")
    if not isinstance(committed, dict):
        return ["the record has no commitment"]
    problems = []
    if sha256_hex(committed) != document.get("commitment_sha256"):
        problems.append("the commitment does not hash to the published commitment hash "
                        f"{document.get('commitment_sha256')}")
    expected = {"plan_id": document["plan"]["plan_id"], "algorithm_version": document["algorithm_version"],
                "snapshot_hash": document["snapshot"]["hash"], "snapshot_as_of": document["snapshot"]["as_of"],
                "pool_hash": document["pool"]["hash"], "seed_source": document["seed"]["source"]}
    for name, value in expected.items():
        if committed.get(name) != value:
            problems.append(f"the commitment's {name} is {committed.get(name)!r}, the record's is {value!r}")
    try:
        if datetime.fromisoformat(committed["committed_at"]) >= datetime.fromisoformat(document["drawn_at"]):
            problems.append(f"the commitment ({committed['committed_at']}) does not precede the draw "
                            f"({document['drawn_at']})")
        if date.fromisoformat(document["drawn_on"]) < date.fromisoformat(committed["seed_available_on"]):
            problems.append(f"drawn on {document['drawn_on']}, before the committed seed source published its value "
                            f"({committed['seed_available_on']})")
    except (KeyError, TypeError, ValueError) as error:
        problems.append(f"the commitment's or the draw's moments cannot be read: {error!r}")
    return problems


@dataclass(frozen=True)
class DrawCheck:
    """What recomputing a published draw record found (`ipss draw verify`)."""

    matches: bool
    problems: list[str]
    targets: int
    # The pairings were withheld (not yet published): the targets alone were recomputed.
    targets_only: bool = False


def check_record(document: dict[str, Any]) -> DrawCheck:
    """Recompute a published record from its public data: the snapshot and pool hashes from their
    entries, then the draw from plan, seed and hashes; say what does not match."""
    problems: list[str] = []
    withheld = bool(document.get("pairings_withheld"))
    try:
        if document.get("format") not in RECORD_FORMATS:
            return DrawCheck(False, [f"not a draw record of format {' or '.join(RECORD_FORMATS)}"], 0)
        algorithm = document["algorithm_version"]
        if algorithm not in IMPLEMENTED:
            return DrawCheck(False, [f"algorithm {algorithm!r} is not implemented here "
                                     f"(these are {', '.join(IMPLEMENTED)})"], 0)
        snapshot, pool = document["snapshot"], document["pool"]
        if sha256_hex(snapshot["entries"]) != snapshot["hash"]:
            problems.append("the snapshot's entries do not hash to the published snapshot hash")
        if not withheld and sha256_hex(pool["entries"]) != pool["hash"]:
            problems.append("the inspector pool's entries do not hash to the published pool hash")
        if document["format"] != FIRST_RECORD_FORMAT:
            problems.extend(commitment_problems(document))
        plan = PlanSpec.from_data(document["plan"])
        try:
            outcome = draw(plan, document["seed"]["value"], snapshot["entries"], snapshot["hash"],
                           None if withheld else pool["entries"], pool["hash"], algorithm)
        except Unstaffable as error:
            problems.append(f"the recomputed draw fails: {error.message}")
            return DrawCheck(False, problems, 0)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return DrawCheck(False, [f"the record is malformed: {error!r}"], 0)
    if withheld:
        if outcome.result != document.get("result"):
            problems.append(first_difference(outcome.result, document.get("result") or {}))
        return DrawCheck(not problems, problems, len(outcome.targets), targets_only=True)
    if outcome.result_hash != document.get("result_hash"):
        problems.append(f"the recomputed result hashes to {outcome.result_hash}, the record says "
                        f"{document.get('result_hash')}")
    if sha256_hex(document.get("result")) != document.get("result_hash"):
        problems.append("the published result does not hash to the published result hash")
    if outcome.result != document.get("result"):
        problems.append(first_difference(outcome.result, document.get("result") or {}))
    return DrawCheck(not problems, problems, len(outcome.targets))


def first_difference(recomputed: dict[str, Any], published: dict[str, Any]) -> str:
    mine, theirs = recomputed["targets"], published.get("targets", [])
    for index, (a, b) in enumerate(zip(mine, theirs)):
        if a != b:
            return f"target {index + 1} differs: recomputed {a}, published {b}"
    if len(mine) != len(theirs):
        return f"{len(mine)} targets recomputed, {len(theirs)} published"
    return "the strata differ: recomputed " + json.dumps(recomputed["strata"], ensure_ascii=False)
