"""Whether a failed call to Temporal failed because Temporal is out of reach (down, restarting,
slow past the deadline), which a caller can retry shortly, rather than because it refused."""

from __future__ import annotations

from temporalio.service import RPCError, RPCStatusCode

from sojourn.errors import Unavailable

_OUT_OF_REACH = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


class TemporalUnavailable(Unavailable):
    code = "temporal_unavailable"


def out_of_reach(err: BaseException) -> bool:
    if isinstance(err, RPCError):
        return err.status in _OUT_OF_REACH
    # A client that never reached the server (connected lazily) raises this instead of an RPCError.
    return isinstance(err, RuntimeError) and str(err).startswith("Failed client connect")
