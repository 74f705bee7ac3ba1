"""DORA performance bands (elite, high, medium, low) for the four keys (pure).

Source: DORA, *Accelerate State of DevOps Report 2024*, software delivery performance
levels. Its clusters give, per level: change lead time (elite < 1 day, high 1 day to 1 week,
medium 1 week to 1 month, low 1 to 6 months); deployment frequency (elite on demand, several a
day; high between once a day and once a week; medium between once a week and once a month;
low between once a month and once every six months); change fail rate (elite 5 %, high
20 %, medium 10 %, low 40 %); failed deployment recovery time (elite < 1 hour, high and
medium < 1 day, low 1 week to 1 month). The clusters' fail rates and recovery times are not
ordered by level, so a single measurement is banded by ordered bounds: fail rate at most
5 / 10 / 20 % for elite / high / medium, recovery under 1 hour / 1 day / 1 week.
"""

from __future__ import annotations

from enum import StrEnum

HOUR, DAY, WEEK, MONTH = 3600.0, 86_400.0, 7 * 86_400.0, 30 * 86_400.0
SOURCE = "DORA Accelerate State of DevOps Report 2024, software delivery performance levels"


class Band(StrEnum):
    """A DORA performance level."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def deployment_frequency_band(per_day: float) -> Band:
    """More than once a day elite; at least weekly high; at least monthly medium."""
    if per_day > 1.0:
        return Band.ELITE
    if per_day >= 1 / 7:
        return Band.HIGH
    if per_day >= 1 / 30:
        return Band.MEDIUM
    return Band.LOW


def lead_time_band(median_s: float) -> Band:
    """Under a day elite; up to a week high; up to a month medium."""
    if median_s < DAY:
        return Band.ELITE
    if median_s <= WEEK:
        return Band.HIGH
    if median_s <= MONTH:
        return Band.MEDIUM
    return Band.LOW


def change_failure_band(rate: float) -> Band:
    """At most 5 % elite, 10 % high, 20 % medium."""
    if rate <= 0.05:
        return Band.ELITE
    if rate <= 0.10:
        return Band.HIGH
    if rate <= 0.20:
        return Band.MEDIUM
    return Band.LOW


def recovery_band(median_s: float) -> Band:
    """Under an hour elite, a day high, a week medium."""
    if median_s < HOUR:
        return Band.ELITE
    if median_s < DAY:
        return Band.HIGH
    if median_s < WEEK:
        return Band.MEDIUM
    return Band.LOW
