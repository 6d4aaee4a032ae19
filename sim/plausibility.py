"""Warnings (not errors) for biologically odd but runnable scenarios.

* a target whose disease does not occur at the lesion site (``lesion_sites`` of
  the target in ``seeds/targets.toml``), e.g. CD19 on a stomach lesion;
* a regional route that does not reach the site (``local_share`` 0 for the site
  in ``seeds/routes.toml``), e.g. intraventricular for a liver lesion: only the
  route's systemic share of the dose arrives, through the blood.

The command line prints each as one line on stderr and runs anyway: such a
scenario can be a deliberate teaching contrast. A sweep prints each distinct
warning once, with the number of design points it concerns, and keeps them in
its ``_manifest.json`` (``warnings``).
"""

from __future__ import annotations

import sys

from sim import tables


def concerns(scenario) -> list[str]:
    """One line per odd combination in ``scenario`` (empty when nothing is odd)."""
    lines = []
    target = tables.targets()[scenario.target]
    sites = target.get("lesion_sites")
    if sites is not None and scenario.site not in sites:
        lines.append(f"target {scenario.target} marks {target['disease']}, which is not found at site "
                     f"{scenario.site} (its sites: {', '.join(sites)}; seeds/targets.toml)")
    route = tables.routes()[scenario.route]
    if route["systemic_share"] < 1 and not route["local_share"].get(scenario.site, 0):
        lines.append(f"route {scenario.route} does not reach a lesion at site {scenario.site} (local_share 0 in "
                     f"seeds/routes.toml); only its systemic share {route['systemic_share']:g} of the dose arrives, "
                     "through the blood")
    return lines


def warn(lines: list[str]) -> None:
    """Print each line on stderr as ``cartsim: warning: ...``."""
    for line in lines:
        print(f"cartsim: warning: {line}", file=sys.stderr)
