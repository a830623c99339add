"""Calendar dates <-> model time.

Model time ``t`` is in years since :data:`T_REF` (2025-01-01), measured in days / 365.25.
Observation windows are inclusive calendar dates, so the window ``[start, end]`` covers
model time ``[t(start), t(end + 1 day))``: a half-year is 181 or 184 days, a leap year 366.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

T_REF = dt.date(2025, 1, 1)
DAYS_PER_YEAR = 365.25


def years(date: dt.date | np.datetime64 | np.ndarray) -> float | np.ndarray:
    """Model time (years since 2025-01-01) of a date or an array of datetime64 values."""
    if isinstance(date, dt.date):
        return (date - T_REF).days / DAYS_PER_YEAR
    days = (np.asarray(date, dtype="datetime64[D]") - np.datetime64(T_REF, "D")).astype(float)
    return days / DAYS_PER_YEAR


def window_bounds(start: dt.date, end: dt.date) -> tuple[float, float]:
    """Model-time bounds of the inclusive calendar window ``[start, end]``."""
    return years(start), years(end + dt.timedelta(days=1))


def window_days(start: dt.date, end: dt.date) -> int:
    """Number of calendar days in the inclusive window ``[start, end]``."""
    return (end - start).days + 1


def parse_month(text: str) -> np.datetime64:
    """Parse ``"YYYY-MM"`` into a month (``datetime64[M]``); raises ValueError otherwise."""
    if not isinstance(text, str) or len(text) != 7 or text[4] != "-":
        raise ValueError(f"expected a month as 'YYYY-MM', got {text!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01..12, got {text!r}")
    return np.datetime64(f"{year:04d}-{month:02d}", "M")


def month_grid(first: np.datetime64, last: np.datetime64, step: int = 1) -> np.ndarray:
    """Month starts from ``first`` to ``last`` inclusive, every ``step`` months, as datetime64[ns]."""
    months = np.arange(np.datetime64(first, "M"), np.datetime64(last, "M") + 1, step)
    return months.astype("datetime64[ns]")


def month_windows(months: np.ndarray, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Model-time bounds ``(a, b)`` of the periods that start at each of ``months``."""
    starts = np.asarray(months, dtype="datetime64[M]")
    return years(starts.astype("datetime64[D]")), years((starts + step).astype("datetime64[D]"))
