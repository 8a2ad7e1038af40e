"""The diff and alert policy: pure functions from (last known state, new poll) to decisions.

Rules, in the order they protect people:
* ``unknown`` never alerts and never replaces the last good state, so a location that comes
  back from an error with the same availability is not news.
* The first successful poll of a provider only sets the baseline (configurable).
* A provider whose numbers jump implausibly, or that drops to zero everywhere at once, is held
  for one more poll: a broken page must not send a state to a clinic, nor erase its openings.
* News is "opened" (none -> available) or "increased" (at least ``min_increase`` more, with at
  least ``min_appointments`` open); each location has a cooldown.
* "gone" (available -> none, or vanished) is recorded for the feeds, never alerted.
* A partial poll (some scopes unknown) judges only what it lists: a location it does not list
  keeps its last state, and is neither "gone" nor counted in the drop-to-zero check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from notifier.model import LocationAvailability, Status
from notifier.policies import AlertPolicy, SanityPolicy

__all__ = [
    "AlertPolicy",
    "Change",
    "DiffResult",
    "KnownState",
    "SanityPolicy",
    "diff_provider",
]


@dataclass(frozen=True, slots=True)
class KnownState:
    """What we last knew for sure about a location (never an ``unknown``)."""

    status: Status
    appointments: int | None
    last_alert_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One location's news. ``alert`` is False for changes that are only recorded."""

    location_id: str
    kind: str  # "opened" | "increased" | "decreased" | "gone"
    current: LocationAvailability | None
    previous: KnownState | None
    increase: int | None
    alert: bool
    suppressed_by_cooldown: bool = False


@dataclass(frozen=True, slots=True)
class DiffResult:
    changes: tuple[Change, ...] = ()
    #: why the whole poll is held for confirmation (None: accepted)
    held: str | None = None
    baseline: bool = False
    #: location ids whose stored state should be replaced by this poll's (known) result
    accepted: tuple[str, ...] = field(default=())

    @property
    def alerts(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.alert)


def _open_count(state: KnownState | LocationAvailability | None) -> int:
    if state is None or state.status is not Status.AVAILABLE:
        return 0
    # An opening without a count still counts as "some": one, for comparisons.
    return state.appointments if state.appointments is not None else 1


def sanity_problem(
    previous: Mapping[str, KnownState],
    current: Mapping[str, LocationAvailability],
    policy: SanityPolicy,
    *,
    partial: bool = False,
) -> str | None:
    """Why this poll looks broken rather than real, or None."""
    for loc_id, item in current.items():
        if item.appointments is not None and item.appointments > policy.max_per_location:
            return f"{loc_id} claims {item.appointments} open appointments"
    new = len(set(current) - set(previous))
    if (
        previous
        and new >= policy.min_new_locations
        and len(current) > policy.location_growth_factor * len(previous)
    ):
        return f"locations jumped from {len(previous)} to {len(current)}"
    was_open = [
        k
        for k, s in previous.items()
        if s.status is Status.AVAILABLE and (not partial or k in current)
    ]
    if len(was_open) >= policy.min_locations_for_zero_drop and all(
        _open_count(current.get(k)) == 0 for k in was_open
    ):
        return f"all {len(was_open)} open locations dropped to zero at once"
    return None


def diff_provider(
    previous: Mapping[str, KnownState],
    current: Sequence[tuple[str, LocationAvailability]],
    policy: AlertPolicy,
    now: dt.datetime,
    *,
    first_poll: bool,
    confirming_hold: bool = False,
    partial: bool = False,
) -> DiffResult:
    """Compare one successful poll with the last known state of the same provider.

    ``current`` pairs stored location ids with this poll's results. ``confirming_hold`` is
    True when the previous poll was held: the same shape twice in a row is believed.
    ``partial`` is True when some scopes of the poll failed: unlisted locations stand.
    """
    known = {loc_id: item for loc_id, item in current if item.status is not Status.UNKNOWN}
    if not confirming_hold and not first_poll:
        problem = sanity_problem(previous, known, policy.sanity, partial=partial)
        if problem:
            return DiffResult(held=problem)
    accepted = tuple(known)
    if first_poll and not policy.alert_on_first_poll:
        return DiffResult(baseline=True, accepted=accepted)

    cooldown = dt.timedelta(minutes=policy.cooldown_minutes)
    changes: list[Change] = []
    for loc_id, item in known.items():
        before = previous.get(loc_id)
        was, now_open = _open_count(before), _open_count(item)
        if now_open > was:
            kind = "opened" if was == 0 else "increased"
            increase = now_open - was
            # Opening is always news; a rise must be big enough, and the total worth a trip.
            newsworthy = kind == "opened" or (
                increase >= policy.min_increase
                and (item.appointments is None or item.appointments >= policy.min_appointments)
            )
            cooling = (
                newsworthy
                and before is not None
                and before.last_alert_at is not None
                and now - before.last_alert_at < cooldown
            )
            changes.append(
                Change(loc_id, kind, item, before, increase, newsworthy and not cooling, cooling)
            )
        elif now_open < was:
            kind = "gone" if now_open == 0 else "decreased"
            changes.append(Change(loc_id, kind, item, before, now_open - was, alert=False))
    for loc_id, before in previous.items():
        # A location missing from a good poll is gone (its page no longer lists it); from a
        # partial poll it may be in the part that failed, so it stands.
        if (
            not partial
            and loc_id not in known
            and loc_id not in dict(current)
            and _open_count(before) > 0
        ):
            changes.append(Change(loc_id, "gone", None, before, -_open_count(before), False))
    return DiffResult(changes=tuple(changes), accepted=accepted)
