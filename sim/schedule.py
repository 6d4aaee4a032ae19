"""The clinical schedule of one patient: when scans are taken and when cells are infused.

Scans (days after the first infusion): a baseline on day 0, the first follow-up
on ``first_scan_day``, then every ``scan_interval_days``. The defaults (28, 28)
scan every 4 weeks; a trial protocol like CT041-ST-01's is ``first_scan_day=28``,
``scan_interval_days=56`` (4 weeks, then every 8 weeks).

Infusions: day 0, then ``infusions - 1`` re-infusions every
``reinfusion_interval_days``, each given only if the patient has not progressed
at the latest scan (no unconfirmed or confirmed progression), the rule
of CT041-ST-01 (Qi et al., Lancet 2025: up to three infusions). A skipped
re-infusion does not cancel the later ones: a pseudo-progression that resets
allows the next. Each infusion is its own dose of ``dose`` cells with its own
expansion clock (:class:`sim.tcells.CARTPool`), so a re-infusion expands
after its own lymphodepletion while the cells of earlier infusions keep
contracting.
"""

from __future__ import annotations

from sim.survival import CONFIRMED, UNCONFIRMED


def is_scan_day(day: int, scenario) -> bool:
    """True on the days a scan is taken (day 0 is the baseline)."""
    first, every = scenario.first_scan_day, scenario.scan_interval_days
    return day == 0 or (day >= first and (day - first) % every == 0)


def scan_days(scenario) -> list[int]:
    """All scan days up to the horizon ``days``, baseline included."""
    return [d for d in range(scenario.days + 1) if is_scan_day(d, scenario)]


def reinfusion_days(scenario) -> list[int]:
    """Days of the planned re-infusions (after the first infusion on day 0)."""
    return [k * scenario.reinfusion_interval_days for k in range(1, scenario.infusions)]


def progressed(scans) -> bool:
    """True if the latest of the assessed ``scans`` shows progression, unconfirmed or confirmed."""
    return len(scans) > 1 and scans[-1].irecist in (UNCONFIRMED, *CONFIRMED)


def progression_confirmed(scans) -> bool:
    """True once progression is confirmed in the assessed ``scans``: the outcome is known."""
    return any(scan.irecist in CONFIRMED for scan in scans)
