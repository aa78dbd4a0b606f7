"""The publicity period (公示): a number of working days from a start date.

Working days are Monday to Friday. The platform does not know public holidays (法定节假日) or the make-up
working weekends (调休); the secretariat picks a start date and, when a holiday falls inside the period,
sets more working days (the end date is shown before publishing).
"""
from __future__ import annotations

from datetime import date, timedelta


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def first_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def publicity_end(start: date, working_days: int) -> date:
    """The last day of a period of ``working_days`` working days beginning on ``start`` (or the next working
    day if ``start`` falls on a weekend)."""
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    day = first_working_day(start)
    counted = 1
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def in_period(day: date, start: date, end: date) -> bool:
    return start <= day <= end
