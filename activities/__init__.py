"""Temporal's entry points to the work a journey does. Each activity unpacks its contract
(`sojourn.contracts`), calls one service (or the send path in `sojourn.delivery`), and turns
that service's refusals into `ApplicationError`s typed by `sojourn.contracts.errors.ErrorType`,
the names the workflows' retry policies list. The services know nothing of Temporal's activity
context: what they need from it (the attempt, the scheduled time, a heartbeat) is passed in."""
