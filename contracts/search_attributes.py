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
# Years without a published holiday schedule that a running deadline of the workflow rests on
# (暂定), e.g. ["2027"]: an operator filters `ProvisionalYears = "2027"`; the calendar watcher
# signals exactly these workflows when the year's schedule is loaded.
PROVISIONAL_YEARS = SearchAttributeKey.for_keyword_list("ProvisionalYears")

ALL = (CASE_STAGE, CASE_STATUS, REGION_CODE, AGENCY_CREDIT_CODE, VIOLATION_CATEGORY, NEXT_DEADLINE, OVERDUE,
       PROVISIONAL_YEARS)
_CLI_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "BOOL": "Bool", "KEYWORD_LIST": "KeywordList"}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags


async def register(client) -> None:
    """Register the suite's search attributes on a server that does not know them yet (the
    time-skipping test server; the dev server gets them as start flags)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
                           for key in ALL}))
