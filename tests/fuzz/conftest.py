"""Hypothesis profiles of the fuzz tests: `vigie-ci` (the default: few examples, derandomised, so `make test` stays fast
and never flaky) and `vigie-long` (many random examples, a saved example database), which `bench/fuzz.py` selects
through VIGIE_FUZZ_PROFILE."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILE_ENV = "VIGIE_FUZZ_PROFILE"
_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile("vigie-ci", max_examples=20, deadline=None, derandomize=True, database=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile(
    "vigie-long",
    max_examples=int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / "bench" / "out" / "hypothesis")),
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.load_profile(os.environ.get(PROFILE_ENV, "vigie-ci"))
