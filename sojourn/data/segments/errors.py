"""Why a segment cannot be evaluated or stored: the segment errors, each one of `sojourn.errors`' kinds."""

from __future__ import annotations

from collections.abc import Sequence

from sojourn.errors import Conflict, Invalid, NotFound, SojournError


class SegmentError(SojournError):
    """A segment cannot be evaluated or stored as asked."""


class SegmentNotFound(SegmentError, NotFound, LookupError):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment '{segment_id}' not found")
        self.segment_id = segment_id


class SegmentSetNotFound(SegmentError, NotFound, LookupError):
    def __init__(self, set_id: str) -> None:
        super().__init__(f"segment set '{set_id}' not found")
        self.set_id = set_id


class SegmentConflict(SegmentError, Conflict):
    pass


class SegmentCycle(SegmentError, Invalid, ValueError):
    """Segments that reference each other in a loop: `path` is the loop, first id repeated last."""

    code = "segment_cycle"

    def __init__(self, path: Sequence[str]) -> None:
        message = "segment reference cycle: " + " -> ".join(path)
        super().__init__(message, details=[{"field": "filter", "message": message, "type": "cycle", "path": list(path)}])
        self.path = list(path)


class InvalidFilter(SegmentError, Invalid, ValueError):
    """A filter that does not parse or names segments that do not exist; `problems` lists each."""

    code = "invalid_filter"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(f"the filter has {len(problems)} problem(s)", details=problems)
        self.problems = problems
