"""The publicity period (公示): a number of working days from a start date.

Working days follow China's official calendar: statutory holidays (法定节假日) are not working days and the make-up
working weekends (调休上班) are. The calendar comes from ``chinese_calendar`` (a maintained library that ships the State
Council's published arrangements, 2004 to its newest year), because it is data the secretariat should not have to
type; the State Council publishes each year's arrangement only in the previous November or December, so a year the
installed library does not know yet falls back to Monday–Friday and is reported (``unknown_years``) so the page can
say so, and the secretariat's own entries (``overrides``: date → working day or not) take precedence over both.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import chinese_calendar

Overrides = Mapping[date, bool]


def calendar_knows(day: date) -> bool:
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date, overrides: Overrides | None = None) -> bool:
    if overrides and day in overrides:
        return bool(overrides[day])
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:  # a year the library has no data for: Monday to Friday
        return day.weekday() < 5


def holiday_name(day: date) -> str | None:
    """The statutory holiday a day belongs to (e.g. 'National Day'), if the calendar knows it."""
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return name if on_holiday and name else None


def first_working_day(day: date, overrides: Overrides | None = None) -> date:
    while not is_working_day(day, overrides):
        day += timedelta(days=1)
    return day


def publicity_end(start: date, working_days: int, overrides: Overrides | None = None) -> date:
    """The last day of a period of ``working_days`` working days beginning on ``start`` (or the next working
    day if ``start`` is not one)."""
    if working_days < 1:
        raise ValueError("working_days must be at least 1")
    day = first_working_day(start, overrides)
    counted = 1
    while counted < working_days:
        day += timedelta(days=1)
        if is_working_day(day, overrides):
            counted += 1
    return day


def unknown_years(start: date, end: date, overrides: Overrides | None = None) -> list[int]:
    """Years in [start, end] whose holidays the calendar does not know (the period was counted Monday–Friday)."""
    years = []
    for year in range(start.year, end.year + 1):
        probe = max(start, date(year, 1, 1))
        if not calendar_knows(probe) and year not in years:
            years.append(year)
    return years


def in_period(day: date, start: date, end: date) -> bool:
    return start <= day <= end
