"""Chinese identifiers (suite/codes.py) and the request validation built on them and on the
field rules declared in the protos (suite/validation.py)."""

from __future__ import annotations

import pytest

from ipss.complaints.v1 import complaints_pb2 as complaints_pb
from ipss.inspections.v1 import inspections_pb2 as inspections_pb
from ipss.options.v1 import options_pb2
from ipss.registry.v1 import registry_pb2 as pb
from suite import codes, validation
from suite.errors import InvalidArgument

EMAIL_PATTERN = complaints_pb.Reporter.DESCRIPTOR.fields_by_name["email"].GetOptions().Extensions[
    options_pb2.rules].pattern

# Published unified social credit codes; their check characters agree with GB 32100, which the
# tests below compute rather than trust.
PUBLISHED_CREDIT_CODES = [
    "91110000802100433B",  # registered in Beijing (110000)
    "914403001922038216",  # 华为技术有限公司, Shenzhen
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "911000001000013428",  # 中国银行股份有限公司, registered nationally (100000)
    "91100000100003962T",  # 中国工商银行股份有限公司, registered nationally
]
# The example of GB 11643-1999 itself, and another whose check digit is X.
PUBLISHED_RESIDENT_IDS = ["11010519491231002X", "440524188001010014"]


def credit_check_by_hand(first17: str) -> str:
    """GB 32100: weights 3^i mod 31, check = 31 - (sum mod 31), 31 written as 0."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return alphabet[(31 - total % 31) % 31]


def resident_check_by_hand(first17: str) -> str:
    """GB 11643 (ISO 7064 MOD 11-2): weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


# ---- unified social credit code ----------------------------------------------------------------

@pytest.mark.parametrize("code", PUBLISHED_CREDIT_CODES)
def test_published_credit_codes_are_valid(code):
    assert credit_check_by_hand(code[:17]) == code[17]
    assert codes.credit_code_check_char(code[:17]) == code[17]
    assert codes.credit_code_problem(code) is None


@pytest.mark.parametrize("code", PUBLISHED_CREDIT_CODES)
def test_every_other_check_character_is_refused(code):
    for other in codes.CREDIT_CODE_ALPHABET.replace(code[17], ""):
        assert codes.credit_code_problem(code[:17] + other) == codes.Problem(
            "CREDIT_CODE_CHECK", "check character does not match (GB 32100)")


def test_a_single_changed_character_is_caught():
    code = PUBLISHED_CREDIT_CODES[0]
    for position in range(17):
        for other in codes.CREDIT_CODE_ALPHABET.replace(code[position], ""):
            assert codes.credit_code_problem(code[:position] + other + code[position + 1:]) is not None, position


@pytest.mark.parametrize("code, problem", [
    ("91110000802100433", "must be 18 characters"),
    ("91110000802100433BB", "must be 18 characters"),
    ("91110000802100433b", "has a character outside GB 32100 (digits and capitals without I, O, S, V, Z)"),
    ("91110000802100433I", "has a character outside GB 32100 (digits and capitals without I, O, S, V, Z)"),
    ("91A10000802100433B", "has a character outside GB 32100 (digits and capitals without I, O, S, V, Z)"),
    # Digits of other scripts are not digits here (they once crashed the check character).
    ("9111००००802100433B", "has a character outside GB 32100 (digits and capitals without I, O, S, V, Z)"),
    ("91990000802100433B", "carries an unknown region code"),
    ("91100100802100433B", "carries an unknown region code"),
])
def test_malformed_credit_codes_say_why(code, problem):
    assert codes.credit_code_problem(code).description == problem


def test_the_check_character_covers_the_whole_alphabet():
    """Every first 17 characters have exactly one check character, which may be any of the 31."""
    seen = set()
    for serial in range(2000):
        first17 = f"9111000{serial:04d}" + "MA0001"
        check = codes.credit_code_check_char(first17)
        assert check == credit_check_by_hand(first17)
        assert codes.credit_code_problem(first17 + check) is None
        seen.add(check)
    assert seen == set(codes.CREDIT_CODE_ALPHABET)


# ---- resident identity number --------------------------------------------------------------------

@pytest.mark.parametrize("number", PUBLISHED_RESIDENT_IDS)
def test_published_resident_ids_are_valid(number):
    assert resident_check_by_hand(number[:17]) == number[17]
    assert codes.resident_id_check_char(number[:17]) == number[17]
    assert codes.resident_id_problem(number) is None


@pytest.mark.parametrize("number, problem", [
    ("11010519491231002", "must be 17 digits and a check digit or X"),
    ("11010519491231002x", "must be 17 digits and a check digit or X"),
    ("11010519491231002X\n", "must be 17 digits and a check digit or X"),
    ("1101051949123100२X", "must be 17 digits and a check digit or X"),
    ("11010519491231002Y", "must be 17 digits and a check digit or X"),
    ("110105194912310021", "check digit does not match (GB 11643)"),
    ("99010519491231002X", "carries an unknown region code"),
])
def test_malformed_resident_ids_say_why(number, problem):
    assert codes.resident_id_problem(number).description == problem


@pytest.mark.parametrize("birth", ["19490230", "19491301", "20230229"])
def test_an_impossible_birth_date_is_refused(birth):
    first17 = f"110105{birth}002"
    assert codes.resident_id_problem(first17 + resident_check_by_hand(first17)).reason == "RESIDENT_ID_BIRTH_DATE"


def test_a_leap_day_birth_is_possible():
    first17 = "11010520000229003"
    assert codes.resident_id_problem(first17 + resident_check_by_hand(first17)) is None


# ---- region codes, phones, dates --------------------------------------------------------------

@pytest.mark.parametrize("code", ["110000", "110105", "310104", "440305", "650102", "820000"])
def test_division_codes_of_known_provinces(code):
    assert codes.region_code_problem(code) is None


@pytest.mark.parametrize("code, problem", [
    ("11010", "must be six digits (GB/T 2260)"),
    ("1101050", "must be six digits (GB/T 2260)"),
    ("11010A", "must be six digits (GB/T 2260)"),
    ("11०१०५", "must be six digits (GB/T 2260)"),
    ("110105\n", "must be six digits (GB/T 2260)"),
    ("000000", "names no known province"),
    ("990000", "names no known province"),
    ("100000", "names no known province"),
])
def test_bad_division_codes(code, problem):
    assert codes.region_code_problem(code).description == problem


@pytest.mark.parametrize("phone", ["13912345678", "19912345678", "010-62345678", "01062345678", "0551-1234567",
                                   "0755-88888888"])
def test_phones(phone):
    assert codes.phone_problem(phone) is None


@pytest.mark.parametrize("phone", ["12912345678", "1391234567", "139123456789", "+8613912345678", "010-123456",
                                   "13912345678\n", "13९१२३४५६७८", "62345678", ""])
def test_not_phones(phone):
    assert codes.phone_problem(phone) is not None


@pytest.mark.parametrize("text", ["2024-02-29", "2026-12-31", "1949-10-01"])
def test_dates(text):
    assert codes.date_problem(text) is None


@pytest.mark.parametrize("text, problem", [
    ("2023-02-29", "is not a calendar date"),
    ("2026-13-01", "is not a calendar date"),
    ("2026-1-1", "must be a date YYYY-MM-DD"),
    ("20260101", "must be a date YYYY-MM-DD"),
    ("2026-01-01T00:00", "must be a date YYYY-MM-DD"),
    ("２０２６-01-01", "must be a date YYYY-MM-DD"),
    ("2026-01-01\n", "must be a date YYYY-MM-DD"),
])
def test_not_dates(text, problem):
    assert codes.date_problem(text).description == problem


# ---- validation from the declared field rules -----------------------------------------------------

def problems(message) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in validation.violations(message):
        found.setdefault(violation.field, []).append(violation.description)
    return found


def valid_agency(**fields) -> pb.CreateAgencyRequest:
    values = dict(idempotency_key="create-0001", name="北京某知识产权代理有限公司", kind=pb.AGENCY_KIND_PATENT,
                  credit_code=PUBLISHED_CREDIT_CODES[0], region_code="110108",
                  legal_form=pb.LEGAL_FORM_PARTNERSHIP, established_on="2015-06-01")
    values.update(fields)
    return pb.CreateAgencyRequest(**values)


def test_a_valid_request_has_no_problems():
    assert problems(valid_agency(shareholders=[pb.Shareholder(name="王建国")], phone="010-62345678",
                                 licence_number="11234")) == {}
    validation.check(valid_agency())


def test_required_fields_of_every_kind():
    assert problems(pb.CreateAgencyRequest()) == {
        name: ["is required"] for name in ("idempotency_key", "name", "kind", "credit_code", "region_code",
                                           "legal_form", "established_on")}
    assert problems(pb.FileAnnualReportRequest(idempotency_key="k" * 8, agency_id="a", filed_on="2025-03-01")) == {
        "year": ["is required"]}


def test_optional_fields_are_checked_only_when_set():
    assert problems(valid_agency(phone="", licence_number="", parent_agency_id="")) == {}
    assert problems(pb.GetCreditProfileRequest(agency_id="ag-1", as_of="")) == {}


def test_lengths_patterns_and_formats():
    assert problems(valid_agency(idempotency_key="short", name="名" * 201, licence_number="a b",
                                 phone="000", established_on="2015/06/01")) == {
        "idempotency_key": ["must be at least 8 characters"],
        "name": ["must be at most 200 characters"],
        "licence_number": ["must match ^[0-9A-Za-z-]*$"],
        "phone": [codes.phone_problem("000").description],
        "established_on": [codes.date_problem("2015/06/01").description],
    }
    # An oversized value is refused on its length alone: no pattern or format check reads it.
    assert problems(valid_agency(licence_number="x y" * 20)) == {"licence_number": ["must be at most 40 characters"]}
    assert problems(valid_agency(credit_code=PUBLISHED_CREDIT_CODES[0][:17] + "0", region_code="990000")) == {
        "credit_code": ["check character does not match (GB 32100)"], "region_code": ["names no known province"]}
    assert problems(pb.RegisterPractitionerRequest(
        idempotency_key="register-1", name="李", kind=pb.PRACTITIONER_KIND_OTHER,
        resident_id="110105194912310021")) == {"resident_id": ["check digit does not match (GB 11643)"]}


def test_integer_bounds_skip_zero():
    report = dict(idempotency_key="report-0001", agency_id="ag-1", filed_on="2025-03-01")
    assert problems(pb.FileAnnualReportRequest(year=1999, employees=-1, revenue_cny=10**12 + 1, **report)) == {
        "year": ["must be at least 2000"], "employees": ["must be at least 0"],
        "revenue_cny": ["must be at most 1000000000000"]}
    assert problems(pb.FileAnnualReportRequest(year=2024, employees=0, revenue_cny=0, **report)) == {}
    assert problems(pb.SearchAgenciesRequest(page_size=0)) == {}
    assert problems(pb.SearchAgenciesRequest(page_size=-3)) == {"page_size": ["must be at least 1"]}


def test_enums_lists_and_nested_messages():
    assert problems(valid_agency(kind=42)) == {"kind": ["42 is not a value of AgencyKind"]}
    assert problems(pb.SearchAgenciesRequest(kinds=[pb.AGENCY_KIND_PATENT] * 9)) == {
        "kinds": ["has more than 8 items"]}
    assert problems(pb.SearchAgenciesRequest(kinds=[pb.AGENCY_KIND_PATENT, 0, 77])) == {
        "kinds": ["is required", "77 is not a value of AgencyKind"]}
    assert problems(valid_agency(shareholders=[pb.Shareholder(name="甲"), pb.Shareholder(), pb.Shareholder(
        name="乙" * 101)])) == {"shareholders[1].name": ["is required"],
                               "shareholders[2].name": ["must be at most 100 characters"]}


def test_check_raises_one_error_naming_every_field():
    with pytest.raises(InvalidArgument) as raised:
        validation.check(valid_agency(name="", region_code="1", shareholders=[pb.Shareholder()]))
    assert [v.field for v in raised.value.violations] == ["name", "region_code", "shareholders[0].name"]
    assert "region_code" in raised.value.message


def test_every_declared_pattern_is_an_re2_pattern():
    """RE2 refuses what could backtrack (back-references, look-arounds): a pattern it cannot
    compile could stall the server on a hostile public request."""
    import re2

    def messages(descriptors):
        for message in descriptors:
            yield message
            yield from messages(message.nested_types)

    files = (pb.DESCRIPTOR, complaints_pb.DESCRIPTOR, inspections_pb.DESCRIPTOR)
    patterns = {field.GetOptions().Extensions[options_pb2.rules].pattern
                for file in files for message in messages(file.message_types_by_name.values())
                for field in message.fields}
    patterns.discard("")
    assert patterns, "the protos declare patterns"
    for pattern in patterns:
        re2.compile(pattern)


def test_a_hostile_email_is_refused_by_its_shape_and_an_oversized_one_by_its_length():
    hostile = "a@" + "." * 190 + "@"
    assert problems(complaints_pb.Reporter(email=hostile)) == {"email": [f"must match {EMAIL_PATTERN}"]}
    assert problems(complaints_pb.Reporter(email="a@" + "." * 1_000_000 + "@")) == {
        "email": ["must be at most 200 characters"]}
    assert problems(complaints_pb.Reporter(email="wang.li@example.com.cn")) == {}
