"""A real Scrapyd (the PyPI package) for the tests, on a free loopback port, with its folders in a temp folder.

    with ScrapydServer(tmp_path / "scrapyd", env={"VIGIE_CONFIG": ..., "VIGIE_DATA_DIR": ..., "SCRAPYD_USERNAME": ...}) as scrapyd:
        scrapyd.url                          # http://127.0.0.1:PORT/
        scrapyd.api("daemonstatus.json")     # the JSON answer of a GET (with the credentials of `env`, if any)
        scrapyd.api("schedule.json", {"project": "vigie", "spider": "feed", "source": "heise"})  # a POST
        scrapyd.wait_finished("vigie", job)  # polls listjobs.json until the job is among the finished ones

Scrapyd runs its jobs with its own environment, so `env` is what an operator puts in Scrapyd's service unit
(docs/scrapyd.md). Its config is a `scrapyd.conf` in its working folder, one of the places Scrapyd reads.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import end

SCRAPYD = Path(sys.executable).with_name("scrapyd")
"""The `scrapyd` command installed beside this Python (the dev extras)."""

CONF = """[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
eggs_dir = {home}/eggs
logs_dir = {home}/logs
dbs_dir = {home}/dbs
jobs_to_keep = 5
max_proc = 2
poll_interval = 0.2
"""


class ScrapydError(RuntimeError):
    """Scrapyd did not start, or a job did not finish in time; the message ends with Scrapyd's log tail."""


class ScrapydServer:
    def __init__(self, home: Path, *, env: dict[str, str]) -> None:
        """With SCRAPYD_USERNAME and SCRAPYD_PASSWORD in `env`, Scrapyd asks for them (HTTP basic auth) on every call."""
        self.home = home
        self.port = free_port()
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log(self) -> Path:
        return self.home / "scrapyd.log"

    def start(self, timeout: float = 60) -> None:
        """Start `scrapyd` and wait until daemonstatus.json answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "scrapyd.conf").write_text(CONF.format(port=self.port, home=self.home), encoding="utf-8")
        environment = {name: value for name, value in os.environ.items() if not name.startswith("VIGIE_")} | self.env
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(SCRAPYD)], cwd=self.home, env=environment, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ScrapydError(f"scrapyd exited with {self.process.returncode} at start:\n{self.log_tail()}")
            try:
                if self.api("daemonstatus.json")["status"] == "ok":
                    return
            except OSError:
                time.sleep(0.1)
        raise ScrapydError(f"scrapyd did not answer on {self.url} within {timeout}s:\n{self.log_tail()}")

    def api(self, endpoint: str, form: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
        """GET an endpoint of Scrapyd's JSON API, or POST it `form`, as curl's `-d` does."""
        query = "?" + urllib.parse.urlencode(params) if params else ""
        request = urllib.request.Request(self.url + endpoint + query, data=urllib.parse.urlencode(form).encode() if form is not None else None)
        if "SCRAPYD_USERNAME" in self.env:
            token = base64.b64encode(f"{self.env['SCRAPYD_USERNAME']}:{self.env['SCRAPYD_PASSWORD']}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=180) as answer:  # listspiders.json and schedule.json start a process
            return json.loads(answer.read())

    def wait_finished(self, project: str, job: str, timeout: float = 180) -> dict[str, Any]:
        """The job's entry in listjobs.json once it is finished (its log is under `logs/`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.api("listjobs.json", project=project)["finished"]:
                if entry["id"] == job:
                    return entry
            time.sleep(0.2)
        raise ScrapydError(f"job {job} not finished within {timeout}s:\n{self.log_tail()}")

    def job_log(self, project: str, spider: str, job: str) -> str:
        path = self.home / "logs" / project / spider / f"{job}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (Scrapyd stops its jobs and exits), then SIGKILL if it takes longer than `timeout`."""
        process, self.process = self.process, None
        if process is not None:
            end(process, timeout)

    def __enter__(self) -> ScrapydServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
