"""Shared pytest configuration: Hypothesis profiles.

Profiles (select with HYPOTHESIS_PROFILE=name; CI=true selects ``ci``):
- ``ci``: derandomized (the same examples every run, so CI cannot flake), no deadline, no example
  database written to the checkout, 50 examples per property.
- ``dev``: the default locally, random examples, 50 per property, no deadline (the exact scores
  take milliseconds but the first call pays for imports).
- ``thorough``: 1000 examples per property (20 times ``ci``), random, for a pre-release sweep; it
  prints the blob that reproduces a failure (``@reproduce_failure``). Tests that set a smaller budget
  of their own because each example is costly scale it by the same factor (``tests/test_processes.py``:
  the SymPy-backed tests, 8 examples under ``ci``, 160 under ``thorough``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=50,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Under pytest-xdist every worker is a process of its own: with BLAS using all cores in each of
# them, the small matrix products of the checks spin and oversubscribe the machine (measured: the
# C3 fast check takes 35 s instead of 6 s on 2 cores with -n 2). One BLAS thread per worker.
if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
