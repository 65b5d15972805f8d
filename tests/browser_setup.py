"""Make sure Debian's Chromium is there for the dashboard's browser test (`make test` runs this first).

Installs it with apt-get when missing and we are root; otherwise says why the browser test will be skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    if os.path.exists(CHROMIUM):
        return 0
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(f"browser setup: {CHROMIUM} missing and apt-get unavailable (not root?): the browser test will be skipped", file=sys.stderr)
        return 0
    print("browser setup: installing Debian's chromium for the dashboard browser test ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"browser setup: {' '.join(command)} failed ({last}): the browser test will be skipped", file=sys.stderr)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
