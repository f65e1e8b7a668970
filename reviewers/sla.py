"""Business-day arithmetic for SLAs: Saturdays and Sundays do not count (holidays later)."""

from __future__ import annotations

from datetime import datetime, timedelta

WEEKEND = (5, 6)


def add_business_days(start: datetime, days: int) -> datetime:
    """The moment `days` business days after `start`, at the same time of day.

    A start on a weekend counts from the following Monday at the same time.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    moment = start
    while moment.weekday() in WEEKEND:
        moment += timedelta(days=1)
    remaining = days
    while remaining:
        moment += timedelta(days=1)
        if moment.weekday() not in WEEKEND:
            remaining -= 1
    return moment


def business_days_between(start: datetime, end: datetime) -> float:
    """Elapsed business time between two moments, in days (negative if `end` is earlier)."""
    if end < start:
        return -business_days_between(end, start)
    total = timedelta()
    cursor = start
    while cursor < end:
        next_midnight = (cursor + timedelta(days=1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        step_end = min(next_midnight, end)
        if cursor.weekday() not in WEEKEND:
            total += step_end - cursor
        cursor = step_end
    return total / timedelta(days=1)
