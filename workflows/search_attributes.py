"""Search attributes an operator filters by in the Temporal UI. `ipss up` registers exactly
these with the dev server; workflows set them."""

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
REGION_CODE = SearchAttributeKey.for_keyword("RegionCode")
AGENCY_CREDIT_CODE = SearchAttributeKey.for_keyword("AgencyCreditCode")
VIOLATION_CATEGORY = SearchAttributeKey.for_keyword("ViolationCategory")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")

ALL = (CASE_STAGE, CASE_STATUS, REGION_CODE, AGENCY_CREDIT_CODE, VIOLATION_CATEGORY, NEXT_DEADLINE, OVERDUE)
_CLI_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool"}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags
