"""Read-only facts for reports (the demo's latency figures)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from notifier.db.tables import alert_table, location_table

__all__ = ["AlertPlace", "alert_places"]


@dataclass(frozen=True, slots=True)
class AlertPlace:
    appointments: int | None
    postal_code: str | None


def alert_places(conn: Connection) -> dict[int, AlertPlace]:
    """Every alert's open appointments and its location's postal code, by alert id."""
    a, loc = alert_table, location_table
    query = select(a.c.id, a.c.appointments, loc.c.postal_code).join(
        loc, loc.c.id == a.c.location_id
    )
    return {
        int(row.id): AlertPlace(row.appointments, row.postal_code) for row in conn.execute(query)
    }
