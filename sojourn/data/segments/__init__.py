"""Segments: the filter language (`sojourn.dsl.filters`) evaluated by Postgres, one SQL statement per question.

    operators    the SQL meaning of each operator (the Python meaning: sojourn.dsl.operators)
    values       JSON values of contacts and events in SQL, what the operators compare
    compiler     a filter as one boolean expression over contacts
    references   parsing filters, the segments they reference, reference cycles
    evaluation   count, contacts, matching_ids, matches, placement_counts, place, explain
    storage      checked filters, stored segments and segment sets
    errors       SegmentError and its kinds
    tables       the tables a filter reads

Callers use this package's names (`segments.count`, `segments.SegmentNotFound`, ...).
"""

from sojourn.data.segments.compiler import compile_filter, placement_case, select_ids
from sojourn.data.segments.errors import (
    InvalidFilter,
    SegmentConflict,
    SegmentCycle,
    SegmentError,
    SegmentNotFound,
    SegmentSetNotFound,
)
from sojourn.data.segments.evaluation import (
    WORK_MEM,
    contacts,
    count,
    explain,
    matches,
    matching_ids,
    place,
    placement_counts,
)
from sojourn.data.segments.operators import SQL_MEANINGS, compare_sql
from sojourn.data.segments.references import (
    check_cycles,
    filter_problems,
    load_references,
    parse_filter,
    referenced_segments,
)
from sojourn.data.segments.storage import (
    checked_filter,
    create_segment,
    create_segment_set,
    get_segment,
    get_segment_set,
    stored_form,
    update_segment,
)
from sojourn.data.segments.tables import contacts_table, engagement_table, events_table, messages_table, tags_table
from sojourn.data.segments.values import ISO_DATETIME, JsonValue, event_value

__all__ = [
    "ISO_DATETIME", "SQL_MEANINGS", "WORK_MEM",
    "InvalidFilter", "JsonValue", "SegmentConflict", "SegmentCycle", "SegmentError", "SegmentNotFound",
    "SegmentSetNotFound",
    "check_cycles", "checked_filter", "compare_sql", "compile_filter", "contacts", "count", "create_segment",
    "create_segment_set", "event_value", "explain", "filter_problems", "get_segment", "get_segment_set",
    "load_references", "matches", "matching_ids", "parse_filter", "place", "placement_case", "placement_counts",
    "referenced_segments", "select_ids", "stored_form", "update_segment",
    "contacts_table", "engagement_table", "events_table", "messages_table", "tags_table",
]
