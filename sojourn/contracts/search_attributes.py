"""Custom search attributes that let operators filter journey runs in the Temporal UI."""

from temporalio.common import SearchAttributeKey

JOURNEY_ID = SearchAttributeKey.for_keyword("JourneyId")
JOURNEY_VERSION = SearchAttributeKey.for_int("JourneyVersion")
CONTACT_ID = SearchAttributeKey.for_keyword("ContactId")
JOURNEY_NODE = SearchAttributeKey.for_keyword("JourneyNode")
JOURNEY_STATUS = SearchAttributeKey.for_keyword("JourneyStatus")

ALL = [JOURNEY_ID, JOURNEY_VERSION, CONTACT_ID, JOURNEY_NODE, JOURNEY_STATUS]

# As the `temporal` CLI spells them: `--search-attribute JourneyId=Keyword`.
CLI_TYPES = {
    "JourneyId": "Keyword",
    "JourneyVersion": "Int",
    "ContactId": "Keyword",
    "JourneyNode": "Keyword",
    "JourneyStatus": "Keyword",
}
