"""The double-random draw algorithm (ipss-draw/2) as a pure function: the same inputs give the
same bytes; each stratum yields ceil(N × ratio) targets, the most specific ratio winning; an agency
under the joint punishment measure raising its inspection ratio is drawn in the high risk class
whatever its grade; no inspector meets a target they are excluded from; an unstaffable plan fails
naming the target; and a re-check catches a changed seed, snapshot, pool or result, and still
verifies a record drawn with ipss-draw/1."""

from __future__ import annotations

import copy
import hashlib
import random
from collections import Counter

import pytest

from services.inspections.domain import draw
from services.inspections.domain import plans
from suite import testdata
from suite.errors import FailedPrecondition, InvalidArgument

REGIONS = ("110101", "110108", "310104", "310115", "440106", "440305")
KINDS = ("patent", "trademark", "copyright", "consulting")
SEED = "双色球 2026025期 03 08 12 19 27 31 + 09"


def snapshot(count: int, seed: int = 7) -> tuple[list[list[str]], str]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        region = rng.choice(REGIONS)
        rows.append([testdata.credit_code(region, rng), f"机构{index}", region, rng.choice(KINDS),
                     rng.choices("ABCD", weights=(60, 25, 10, 5))[0], draw.RAISED if rng.random() < 0.02 else ""])
    entries = draw.snapshot_entries(rows)
    return entries, draw.sha256_hex(entries)


def pool(count: int, entries: list[list[str]], seed: int = 11, exclusions: int = 3,
         origin_share: float = 0.2) -> tuple[list[list], str]:
    rng = random.Random(seed)
    codes_ = [e[0] for e in entries]
    rows = [[f"INS{index:04d}", rng.choice(REGIONS), rng.sample(codes_, exclusions),
             [rng.choice(REGIONS)] if rng.random() < origin_share else []] for index in range(count)]
    entries_ = draw.pool_entries(rows)
    return entries_, draw.sha256_hex(entries_)


def plan(**overrides) -> draw.PlanSpec:
    fields = dict(plan_id="plan-2026-0001", regions=("110000", "310000", "440000"), kinds=(), all_in_scope=False,
                  ratios=(draw.Ratio("low", "", "", 300), draw.Ratio("general", "", "", 500),
                          draw.Ratio("elevated", "", "", 2000), draw.Ratio("high", "", "", 5000)),
                  inspectors_per_target=2)
    fields.update(overrides)
    return draw.PlanSpec(**fields)


@pytest.fixture(scope="module")
def data():
    entries, snapshot_hash = snapshot(6000)
    inspectors, pool_hash = pool(120, entries)
    return entries, snapshot_hash, inspectors, pool_hash


def test_the_same_inputs_give_the_same_bytes(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    first = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, pool_hash)
    again = draw.draw(plan(), SEED, copy.deepcopy(entries), snapshot_hash, copy.deepcopy(inspectors), pool_hash)
    assert first.canonical_bytes == again.canonical_bytes
    assert first.result_hash == hashlib.sha256(first.canonical_bytes).hexdigest() == again.result_hash
    # The input order of the snapshot does not matter: its canonical order does.
    shuffled = list(entries)
    random.Random(3).shuffle(shuffled)
    assert draw.draw(plan(), SEED, draw.snapshot_entries(shuffled), snapshot_hash, inspectors,
                  pool_hash).result_hash == first.result_hash


def test_another_seed_or_snapshot_draws_other_targets(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    first = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, pool_hash)
    other_seed = draw.draw(plan(), SEED + " ", entries, snapshot_hash, inspectors, pool_hash)
    changed = [list(e) for e in entries]
    changed[0][1] = "改名后的机构"
    other_snapshot = draw.draw(plan(), SEED, changed, draw.sha256_hex(changed), inspectors, pool_hash)
    mine = {t[0] for t in first.targets}
    for other in (other_seed, other_snapshot):
        theirs = {t[0] for t in other.targets}
        assert len(theirs) == len(mine)  # the strata are the same, so are their sizes
        assert len(mine & theirs) < len(mine) * 0.5


def test_each_stratum_yields_its_ratio_rounded_up(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    outcome = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, pool_hash)
    population = Counter((e[2], e[3], draw.risk_class(e)) for e in entries)
    drawn = Counter((t[1], t[2], t[3]) for t in outcome.targets)
    ratio = {"low": 300, "general": 500, "elevated": 2000, "high": 5000}
    strata = {tuple(row[:3]): row[3:] for row in outcome.result["strata"]}
    assert set(strata) == set(population)
    for stratum, size in population.items():
        expected = -(-size * ratio[stratum[2]] // 10000)  # ceil
        assert strata[stratum] == [size, ratio[stratum[2]], expected]
        assert drawn[stratum] == expected
        assert expected >= 1  # rounding up: no non-empty stratum with a ratio goes unvisited
    # Higher risk, higher share.
    share = {risk: sum(drawn[s] for s in drawn if s[2] == risk) / sum(population[s] for s in population
                                                                        if s[2] == risk) for risk in ratio}
    assert share["low"] < share["general"] < share["elevated"] < share["high"]


def test_within_a_stratum_the_lowest_keys_are_drawn(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    outcome = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, pool_hash)
    stratum = max(outcome.result["strata"], key=lambda row: row[3])
    members = [e for e in entries if (e[2], e[3], draw.risk_class(e)) == tuple(stratum[:3])]

    def key(code: str) -> bytes:
        return hashlib.sha256(b"\x1f".join([b"ipss-draw/2", b"target", SEED.encode(), snapshot_hash.encode(),
                                            code.encode()])).digest()
    expected = sorted(members, key=lambda e: key(e[0]))[:stratum[5]]
    assert {e[0] for e in expected} == {t[0] for t in outcome.targets if tuple(t[1:4]) == tuple(stratum[:3])}
    assert [t[0] for t in outcome.targets] == sorted((t[0] for t in outcome.targets), key=key)


def test_an_agency_under_a_raised_inspection_ratio_is_high_risk_whatever_its_grade(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    raised = [e for e in entries if e[5] == draw.RAISED]
    assert raised and {e[4] for e in raised} & {"A", "B"}, "the fixture raises some agencies of good grades"
    outcome = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, pool_hash)
    drawn = {t[0]: t[3] for t in outcome.targets}
    assert {drawn[e[0]] for e in raised if e[0] in drawn} == {"high"}
    strata = {tuple(row[:3]): row[3] for row in outcome.result["strata"]}
    for entry in raised:
        assert strata[(entry[2], entry[3], "high")] >= 1
    # The same agency without the measure goes by its grade.
    assert draw.risk_class([*raised[0][:5], ""]) == draw.RISK_OF_GRADE[raised[0][4]]
    # ipss-draw/1 knew no such column: its risk class is the grade's.
    assert draw.risk_class(raised[0], draw.FIRST_VERSION) == draw.RISK_OF_GRADE[raised[0][4]]


def test_a_record_drawn_with_ipss_draw_1_still_verifies(data):
    entries, snapshot_hash, inspectors, pool_hash = data
    five = [e[:5] for e in entries]
    five_hash = draw.sha256_hex(five)
    outcome = draw.draw(plan(), SEED, five, five_hash, inspectors, pool_hash, draw.FIRST_VERSION)
    document = draw.record_document(plan(), SEED, "中国福利彩票", five, five_hash, "2026-03-01", inspectors, pool_hash,
                                    outcome, "2026-03-03T10:00:00+08:00")
    assert document["algorithm_version"] == outcome.result["algorithm_version"] == draw.FIRST_VERSION
    verdict = draw.check_record(document)
    assert verdict.matches, verdict.problems
    assert outcome.result_hash != draw.draw(plan(), SEED, five, five_hash, inspectors, pool_hash).result_hash


def test_the_most_specific_ratio_wins():
    spec = plan(ratios=(draw.Ratio("low", "", "", 100), draw.Ratio("general", "", "", 200),
                        draw.Ratio("elevated", "", "", 300), draw.Ratio("high", "", "", 400),
                        draw.Ratio("low", "patent", "", 1000),
                        draw.Ratio("low", "", "110000", 2000), draw.Ratio("low", "patent", "110000", 3000),
                        draw.Ratio("low", "", "110108", 4000)))
    assert draw.stratum_ratio(spec, "310104", "trademark", "low") == 100
    assert draw.stratum_ratio(spec, "310104", "patent", "low") == 1000
    assert draw.stratum_ratio(spec, "110101", "trademark", "low") == 2000
    assert draw.stratum_ratio(spec, "110101", "patent", "low") == 3000
    assert draw.stratum_ratio(spec, "110108", "patent", "low") == 4000  # a narrower region beats a named kind
    assert draw.stratum_ratio(spec, "110108", "patent", "high") == 400
    assert draw.stratum_ratio(plan(all_in_scope=True, ratios=()), "110108", "patent", "low") == 10000


def test_no_inspector_meets_a_target_they_are_excluded_from(data):
    entries, snapshot_hash, _, _ = data
    inspectors, pool_hash = pool(40, entries, exclusions=60, origin_share=0.5)
    outcome = draw.draw(plan(inspectors_per_target=3), SEED, entries, snapshot_hash, inspectors, pool_hash)
    excluded = {i[0]: (set(i[2]), tuple(draw.significant_prefix(r) for r in i[3])) for i in inspectors}
    assert outcome.targets
    load = Counter()
    for code, region, _kind, _risk, team in outcome.targets:
        assert len(team) == len(set(team)) == 3
        for inspector in team:
            codes_, prefixes = excluded[inspector]
            assert code not in codes_ and not region.startswith(prefixes or ("-",))
            load[inspector] += 1
    # Inspectors take turns: nobody carries more than twice the even share.
    assert max(load.values()) <= 2 * len(outcome.targets) * 3 / len(inspectors)


def test_a_target_nobody_may_inspect_fails_the_draw_naming_it(data):
    entries, snapshot_hash, inspectors, _ = data
    outcome = draw.draw(plan(), SEED, entries, snapshot_hash, inspectors, draw.sha256_hex(inspectors))
    victim = outcome.targets[len(outcome.targets) // 2][0]
    # Every inspector but one is excluded from the victim: two are needed.
    blocked = [[i[0], i[1], sorted(set(i[2]) | {victim}) if index else i[2], i[3]]
               for index, i in enumerate(inspectors)]
    blocked_pool = draw.pool_entries(blocked)
    with pytest.raises(draw.Unstaffable) as refusal:
        draw.draw(plan(), SEED, entries, snapshot_hash, blocked_pool, draw.sha256_hex(blocked_pool))
    assert isinstance(refusal.value, FailedPrecondition)
    assert refusal.value.credit_code == victim and victim in refusal.value.message
    assert "1 inspector(s)" in refusal.value.message
    with pytest.raises(draw.Unstaffable):
        draw.draw(plan(), SEED, entries, snapshot_hash, [], draw.sha256_hex([]))


def record(data, seed_value: str = SEED) -> dict:
    """A record of the current format: with the plan's commitment, made the day before the draw
    to a source that published on the draw's day."""
    entries, snapshot_hash, inspectors, pool_hash = data
    outcome = draw.draw(plan(), seed_value, entries, snapshot_hash, inspectors, pool_hash)
    committed = draw.commitment(plan().plan_id, snapshot_hash, "2026-03-01", pool_hash, "中国福利彩票", "2026-03-03",
                                "2026-03-02T09:00:00+08:00")
    return draw.record_document(plan(), seed_value, "中国福利彩票", entries, snapshot_hash, "2026-03-01", inspectors,
                                pool_hash, outcome, "2026-03-03T10:00:00+08:00", committed, "2026-03-03")


def recommit(document: dict, **changes) -> None:
    """Change the commitment and publish its new hash with it, as a forger would."""
    document["commitment"].update(changes)
    document["commitment_sha256"] = draw.sha256_hex(document["commitment"])


def test_a_published_record_verifies(data):
    document = record(data)
    verdict = draw.check_record(document)
    assert verdict.matches and verdict.problems == [] and verdict.targets == len(document["result"]["targets"])


@pytest.mark.parametrize("tamper, expected", [
    (lambda doc: doc["seed"].update(value=doc["seed"]["value"] + "0"), "recomputed result hashes to"),
    (lambda doc: doc["snapshot"]["entries"][5].__setitem__(4, "D"), "snapshot's entries do not hash"),
    (lambda doc: doc["snapshot"]["entries"].pop(), "snapshot's entries do not hash"),
    (lambda doc: doc["pool"]["entries"][0][2].clear(), "pool's entries do not hash"),
    (lambda doc: doc["result"]["targets"][0][4].reverse(), "does not hash to the published result hash"),
    (lambda doc: doc["plan"]["ratios"][0].update(basis_points=900), "recomputed result hashes to"),
    (lambda doc: doc.update(algorithm_version="ipss-draw/9"), "not implemented"),
    (lambda doc: doc.pop("snapshot"), "malformed"),
    (lambda doc: doc["commitment"].update(seed_source="体彩"), "does not hash to the published commitment hash"),
    (lambda doc: doc.update(commitment_sha256="0" * 64), "does not hash to the published commitment hash"),
    (lambda doc: recommit(doc, seed_source="体彩"), "commitment's seed_source is '体彩'"),
    (lambda doc: recommit(doc, snapshot_hash="0" * 64), "commitment's snapshot_hash"),
    (lambda doc: recommit(doc, pool_hash="0" * 64), "commitment's pool_hash"),
    (lambda doc: recommit(doc, algorithm_version=draw.FIRST_VERSION), "commitment's algorithm_version"),
    (lambda doc: recommit(doc, plan_id="plan-2026-other"), "commitment's plan_id"),
    (lambda doc: recommit(doc, committed_at="2026-03-03T10:00:00+08:00"), "does not precede the draw"),
    (lambda doc: recommit(doc, seed_available_on="2026-03-04"), "before the committed seed source published"),
    (lambda doc: doc.pop("commitment"), "has no commitment"),
])
def test_a_recheck_catches_a_change(data, tamper, expected):
    document = record(data)
    tamper(document)
    verdict = draw.check_record(document)
    assert not verdict.matches
    assert any(expected in problem for problem in verdict.problems), verdict.problems


def test_a_record_with_its_pairings_withheld_verifies_its_targets(data):
    document = record(data)
    public = draw.withhold_pairings(document)
    assert public["pool"]["entries"] is None and not any(t[4] for t in public["result"]["targets"])
    assert document["pool"]["entries"] and all(t[4] for t in document["result"]["targets"])  # not changed
    verdict = draw.check_record(public)
    assert verdict.matches and verdict.targets_only and verdict.targets == len(document["result"]["targets"])
    public["result"]["targets"][0][0] = public["result"]["targets"][1][0]
    assert not draw.check_record(public).matches


def test_plan_ids_are_random_and_not_numbered():
    ids = {plans.new_plan_id(2026) for _ in range(200)}
    assert len(ids) == 200 and all(i.startswith("plan-2026-") and len(i) == len("plan-2026-") + 16 for i in ids)
    assert plans.plan_id(2026, 7) == "plan-2026-0007"  # the ids plans had before still read as they were


def test_a_draw_takes_its_seed_from_the_committed_source_once_published():
    from datetime import date
    plans.check_draw_seed("p", "双色球 2026025期", "双色球 2026025期", date(2026, 3, 3), date(2026, 3, 3))
    for source, today, reason in [("体彩", date(2026, 3, 3), "SEED_SOURCE_NOT_COMMITTED"),
                                  ("双色球 2026025期", date(2026, 3, 2), "SEED_NOT_YET_PUBLISHED")]:
        with pytest.raises(FailedPrecondition) as refused:
            plans.check_draw_seed("p", "双色球 2026025期", source, date(2026, 3, 3), today)
        assert refused.value.reason == reason
    with pytest.raises(FailedPrecondition) as refused:
        plans.check_draw_seed("p", "", "双色球", None, date(2026, 3, 3))
    assert refused.value.reason == "PLAN_NOT_COMMITTED"
    plans.check_commitment("双色球 2026025期", date(2026, 3, 2), date(2026, 3, 2))
    with pytest.raises(InvalidArgument):
        plans.check_commitment("双色球 2026025期", date(2026, 3, 1), date(2026, 3, 2))


def test_a_snapshot_changed_along_with_its_hash_still_fails_on_the_result(data):
    document = record(data)
    entries = document["snapshot"]["entries"]
    entries[0][4] = "D" if entries[0][4] != "D" else "A"
    document["snapshot"]["hash"] = draw.sha256_hex(entries)
    verdict = draw.check_record(document)
    assert not verdict.matches
    assert any("recomputed result hashes to" in p for p in verdict.problems)


def test_additions_are_staffed_without_conflicts(data):
    entries, _, inspectors, _ = data
    targets = [(e[0], e[2]) for e in entries[:50]]
    teams = draw.assign(targets, inspectors, "campaign-2026-0001/1", 2)
    assert teams == draw.assign(targets, inspectors, "campaign-2026-0001/1", 2)
    assert teams != draw.assign(targets, inspectors, "campaign-2026-0001/2", 2)
    excluded = {i[0]: set(i[2]) for i in inspectors}
    assert all(code not in excluded[i] for (code, _), team in zip(targets, teams) for i in team)


# ---- what a plan must be ----------------------------------------------------------------------

def ratios(low=300, general=500, elevated=2000, high=5000, *extra):
    return [draw.Ratio("low", "", "", low), draw.Ratio("general", "", "", general),
            draw.Ratio("elevated", "", "", elevated), draw.Ratio("high", "", "", high), *extra]


@pytest.mark.parametrize("regions, kinds, all_in_scope, given, field, problem", [
    (["110000", "110108"], [], False, ratios(), "region_codes[1]", "overlaps 110000"),
    (["990000"], [], False, ratios(), "region_codes[0]", ""),
    (["110000"], ["patent", "patent"], False, ratios(), "kinds", "twice"),
    (["110000"], [], True, ratios(), "ratios", "must be empty"),
    (["110000"], [], False, [], "ratios", "required unless all_in_scope"),
    (["110000"], [], False, ratios()[:3], "ratios", "high"),
    (["110000"], [], False, ratios(500, 300), "ratios", "must not fall as the risk rises"),
    (["110000"], [], False, ratios(300, 500, 2000, 5000, draw.Ratio("low", "", "310000", 100)), "ratios[4].region_code",
     "outside"),
    (["110000"], ["patent"], False, ratios(300, 500, 2000, 5000, draw.Ratio("low", "trademark", "", 100)),
     "ratios[4].kind", "not a kind"),
    (["110000"], [], False, ratios(300, 500, 2000, 5000, draw.Ratio("low", "", "", 100)), "ratios[4]", "repeats"),
])
def test_a_bad_plan_names_its_field(regions, kinds, all_in_scope, given, field, problem):
    with pytest.raises(InvalidArgument) as refusal:
        plans.check_plan(regions, kinds, all_in_scope, given, 2)
    assert any(v.field == field and problem in v.description for v in refusal.value.violations), \
        refusal.value.violations


def test_a_good_plan_passes_and_a_seed_has_no_control_characters():
    spec = plans.check_plan(["110000", "310000"], ["patent"], False,
                            ratios(300, 500, 2000, 5000, draw.Ratio("high", "patent", "310000", 10000)), 2)
    assert spec.regions == ("110000", "310000")
    plans.check_seed(SEED)
    with pytest.raises(InvalidArgument):
        plans.check_seed("123\n456")
