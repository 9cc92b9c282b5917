"""An open or a click is stored by statements that commit themselves: no BEGIN and COMMIT round
trips around the look-up and the insert (they were a quarter of the request's time in the API)."""

from __future__ import annotations

from sqlalchemy import event

from helpers import mailed_with_a_link, tracking_path


async def test_an_open_and_a_click_cost_no_transaction(api, worker, engine, unique):
    mail, _, _ = await mailed_with_a_link(api, engine, f"rt-{unique}")
    api_engine = api._transport.app.state.engine.sync_engine
    ran: list[tuple[str, bool]] = []

    def statement(conn, cursor, text: str, parameters, context, executemany) -> None:
        if "FROM messages" in text or "INTO engagement_events" in text:
            ran.append((text.split()[0], conn.connection.dbapi_connection.autocommit))

    event.listen(api_engine, "before_cursor_execute", statement)
    try:
        assert (await api.get(tracking_path(mail["html"], "o"))).status_code == 200
        assert (await api.get(tracking_path(mail["html"], "c"), follow_redirects=False)).status_code == 302
    finally:
        event.remove(api_engine, "before_cursor_execute", statement)
    # The message, then the event: each its own transaction, begun and committed by Postgres.
    assert ran == [("SELECT", True), ("INSERT", True)] * 2
