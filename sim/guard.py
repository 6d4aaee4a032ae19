"""Resource guard: refuse, before any work, a job this machine cannot finish.

A lattice needs memory in proportion to its sites (fields, tissue state, agents):
about 1.4 kB per site on top of about 154 MiB for the interpreter and libraries
(measured after Biology v2, see ``BYTES_PER_SITE``). :func:`check_memory` compares
that estimate, times the runs held in
memory at once (one per worker), with the memory this machine has available and
refuses when it would not fit. :func:`check_count` bounds patient, replicate,
run and worker counts so that a typo (``--patients 1000000000``) stops at once
with one line instead of ending in a MemoryError or a hang.
"""

from __future__ import annotations

import os

from sim.errors import ScenarioError

# Peak RSS (GNU time %M) of `sim.model.run` on the default scenario, 2026-11-26, after Biology v2:
#   100x100, 84 days: 171,420 KB    300x300, 84 days: 280,916 KB    600x600, 7 days: 649,236 KB
# -> (280,916 - 171,420) KB / 80,000 sites = 1.40 kB per site (1.40 kB from 100x100 to 600x600 too),
#    and 171,420 KB - 10,000 sites x 1.40 kB = 154 MiB before the lattice.
# (v1, benchmarks/results.json: 1.35 kB per site at 1000x1000, 160 MiB at 100x100.)
BYTES_PER_SITE = 1500
"""Upper estimate of the memory per lattice site (measured 1.40 kB; the margin also covers the
copy of the final lattice that ``cartsim run`` hands to its figure helper, about 20 B per site)."""
BASE_BYTES = 170 * 2**20
"""Memory of one run's process before the lattice (Python, NumPy, Mesa, pandas; measured 154 MiB)."""
MEMORY_SHARE = 0.8
"""Share of the available memory a job may plan to use."""
MAX_PATIENTS = 100_000
"""Most patients one trial screens (100 patients take about 4 min on 2 cores)."""
MAX_RUNS = 1_000_000
"""Most runs (design points x replicates) in one sweep."""
WORKERS_PER_CORE = 4
"""Most local worker processes per core (one run per core is the design; more only adds memory)."""


class ResourceError(ScenarioError):
    """A job too large for this machine (one line, exit 2)."""


def run_bytes(width: int, height: int) -> int:
    """Estimated peak memory of one run on a ``width`` x ``height`` lattice, in bytes: the sites, plus
    the diffusion's two float32 banded matrices of width x width and height x height (sim.microenv)."""
    return BASE_BYTES + BYTES_PER_SITE * width * height + 4 * (width * width + height * height)


def available_bytes() -> int:
    """Memory available to new processes (``MemAvailable``), or the physical total if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(width: int, height: int, concurrent: int = 1) -> None:
    """Refuse a lattice whose runs (``concurrent`` at once) would not fit in this machine's memory."""
    need = run_bytes(width, height) * concurrent
    have = available_bytes() * MEMORY_SHARE
    if need > have:
        per = f" ({concurrent} runs at once)" if concurrent > 1 else ""
        raise ResourceError(
            f"parameter width/height: lattice {width}x{height} needs about {need / 2**30:.1f} GiB{per}; "
            f"allowed: at most {have / 2**30:.1f} GiB on this machine ({MEMORY_SHARE:.0%} of the available memory)")


def check_count(flag: str, value: int, high: int, why: str = "") -> None:
    """Refuse ``value`` of ``flag`` outside ``1..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ResourceError(f"{flag} {value!r}: allowed: a whole number from 1 to {high:,}{why}")


def max_workers() -> int:
    """Most local worker processes: ``WORKERS_PER_CORE`` per core."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def check_workers(workers: int | None) -> int:
    """``workers`` checked (``None``: all cores); the number of processes to start."""
    if workers is None:
        return os.cpu_count() or 1
    check_count("--workers", workers, max_workers(), f" ({WORKERS_PER_CORE} per core on this machine)")
    return workers
