"""Valid, unique data for the tests and the benchmarks (a benchmark does not import the tests):
unified social credit codes, resident identity numbers, and agencies to register with them.
Every value passes the suite's own checks (suite.codes), so a request refused by validation is
the test's or benchmark's point, never an accident of its data."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date, timedelta

from ipss.registry.v1 import registry_pb2 as rpb
from suite.codes import CREDIT_CODE_ALPHABET, credit_code_check_char, resident_id_check_char

_unseeded = random.SystemRandom()
# Birth dates step through the calendar and a sequence number within each day, from a random
# start, so that no two identity numbers of one process are the same, and those of two processes
# sharing a database rarely are.
_resident_serial = itertools.count(_unseeded.randrange(10_000_000))


def credit_code(region: str = "110108", rng: random.Random | None = None) -> str:
    """A unified social credit code of an enterprise (91) registered in `region`: its nine
    organisation characters from `rng` for a reproducible data set, else at random (31**9 codes,
    so a test session's codes do not meet)."""
    draw = rng or _unseeded
    first17 = "91" + region + "".join(draw.choice(CREDIT_CODE_ALPHABET) for _ in range(9))
    return first17 + credit_code_check_char(first17)


def resident_id(region: str = "110108") -> str:
    """A resident identity number (居民身份证号码) issued in `region`, new to this process."""
    serial = next(_resident_serial)
    born = date(1960, 1, 1) + timedelta(days=(serial // 1000) % 15_000)
    first17 = f"{region}{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def agency_request(region_code: str = "110108", **fields) -> rpb.CreateAgencyRequest:
    """A request that registers a new patent agency, a partnership of `region_code`, under a new
    credit code (its last six characters end its name); `fields` replace the defaults."""
    code = credit_code(region_code)
    values = dict(idempotency_key=uuid.uuid4().hex, name=f"知远专利代理事务所{code[-6:]}",
                  kind=rpb.AGENCY_KIND_PATENT, credit_code=code, region_code=region_code,
                  legal_form=rpb.LEGAL_FORM_PARTNERSHIP, established_on="2015-06-01")
    values.update(fields)
    return rpb.CreateAgencyRequest(**values)
