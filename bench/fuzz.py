"""The fuzz tests of `tests/fuzz/` with many random examples instead of `make test`'s few derandomised ones.

Hypothesis's `vigie-long` profile (tests/fuzz/conftest.py): `--examples` per test (1,000 by default), a fresh random
seed each run unless `--seed` is given, and failing examples saved under `bench/out/hypothesis/`, where the next
run tries them first. It prints hypothesis's statistics per test (examples run, time per example) and exits 1 when
a test failed, with the shrunk input and the line to reproduce it.

Run: `.venv/bin/python bench/fuzz.py [--examples 1000] [--seed N] [-k EXPRESSION]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per test (default 1000)")
    parser.add_argument("--seed", type=int, help="hypothesis seed (default: random)")
    parser.add_argument("-k", dest="keyword", help="only the tests matching this pytest -k expression")
    args = parser.parse_args()
    env = {**os.environ, "VIGIE_FUZZ_PROFILE": "vigie-long", "VIGIE_FUZZ_EXAMPLES": str(args.examples)}
    command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning", "--hypothesis-show-statistics", "--timeout", "0"]
    if args.seed is not None:
        command += ["--hypothesis-seed", str(args.seed)]
    if args.keyword:
        command += ["-k", args.keyword]
    print(f"fuzzing with {args.examples} examples per test: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    print(f"\nfuzz: {'no failure' if code == 0 else 'FAILURES above'} in {time.perf_counter() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
