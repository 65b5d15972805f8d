"""Crawls run as Scrapyd jobs (`vigie crawl --scrapyd URL`): scheduled through schedule.json, waited for through
status.json, their crawl runs then read from the store the jobs wrote to.

With several nodes, each job goes to the node with the fewest running and pending jobs (daemonstatus.json) among
those that answer, and is followed on that node.

The job id Scrapyd gives a crawl becomes its run's id (see `SourceSpider.from_crawler`), so each job's run is
found exactly. A job that ends without closing its run (it crashed, or was cancelled) gets a failed run saying
where Scrapyd keeps its log. A job still running when this process is stopped (SIGTERM from the scheduler at
`crawl.run_timeout`, or Ctrl-C) is cancelled through cancel.json.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from store.base import Store
from vigie.models import CrawlError, CrawlRun, utcnow

PROJECT = "vigie"
"""The project name of the deploy target in scrapy.cfg."""
POLL_SECONDS = 0.5


class ScrapydError(RuntimeError):
    """Scrapyd could not be reached, or refused a call; one line naming the server."""


@dataclass(frozen=True)
class Job:
    source_id: str
    spider: str
    id: str
    node: Scrapyd


class Scrapyd:
    """The few calls of Scrapyd's JSON API a crawl needs; HTTP basic auth from VIGIE_SCRAPYD_USERNAME and
    VIGIE_SCRAPYD_PASSWORD (Scrapyd's `username`/`password`) when they are set."""

    def __init__(self, url: str, project: str = PROJECT, timeout: float = 120, environ: Mapping[str, str] = os.environ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.project = project
        username = environ.get("VIGIE_SCRAPYD_USERNAME")
        auth = (username, environ.get("VIGIE_SCRAPYD_PASSWORD", "")) if username else None
        self.http = httpx.Client(timeout=timeout, auth=auth)

    def call(self, endpoint: str, *, data: dict[str, str] | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
        url = urljoin(self.url, endpoint)
        try:
            answer = self.http.post(url, data=data) if data is not None else self.http.get(url, params=params)
            answer.raise_for_status()
            body = answer.json()
        except httpx.HTTPStatusError as exc:
            raise ScrapydError(f"Scrapyd at {self.url}: {endpoint} answered HTTP {exc.response.status_code} {exc.response.reason_phrase}") from None
        except httpx.HTTPError as exc:
            raise ScrapydError(f"Scrapyd at {self.url} cannot be reached: {exc}") from None
        except ValueError:
            raise ScrapydError(f"Scrapyd at {self.url}: {endpoint} did not answer JSON") from None
        if body.get("status") != "ok":
            message = " ".join(str(body.get("message", body)).split())
            raise ScrapydError(f"Scrapyd at {self.url}: {endpoint} refused: {message}")
        return body

    def schedule(self, spider: str, source_id: str) -> Job:
        body = self.call("schedule.json", data={"project": self.project, "spider": spider, "source": source_id})
        return Job(source_id=source_id, spider=spider, id=body["jobid"], node=self)

    def load(self) -> int:
        status = self.call("daemonstatus.json")
        return int(status["running"]) + int(status["pending"])

    def state(self, job: Job) -> str | None:
        """pending, running, finished, or None once Scrapyd forgot the job (restarted, or past finished_to_keep)."""
        return self.call("status.json", params={"job": job.id, "project": self.project})["currstate"]

    def cancel(self, job: Job) -> None:
        self.call("cancel.json", data={"project": self.project, "job": job.id})

    def log_url(self, job: Job) -> str:
        return urljoin(self.url, f"logs/{self.project}/{job.spider}/{job.id}.log")

    def close(self) -> None:
        self.http.close()


def least_busy(nodes: Sequence[Scrapyd]) -> Scrapyd:
    """The node with the fewest running and pending jobs, the first listed among equals; nodes that do not
    answer are passed over."""
    loads: list[tuple[int, int]] = []
    errors: list[str] = []
    for index, node in enumerate(nodes):
        try:
            loads.append((node.load(), index))
        except ScrapydError as exc:
            errors.append(str(exc))
    if not loads:
        raise ScrapydError("; ".join(errors))
    return nodes[min(loads)[1]]


@contextmanager
def _cancelled_when_stopped(jobs: list[Job], done: set[str]) -> Iterator[None]:
    """SIGTERM ends the wait as Ctrl-C does; either way the jobs not finished yet are cancelled."""

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except KeyboardInterrupt:
        for job in jobs:
            if job.id not in done:
                try:
                    job.node.cancel(job)
                except ScrapydError:
                    pass  # the node is gone: its jobs went with it
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def crawl_on_scrapyd(sources: Sequence[Any], urls: Sequence[str], store: Store) -> list[CrawlRun]:
    """Schedule one job per source (its platform is the spider) on the least busy node, wait until every job is
    finished, and return their crawl runs."""
    nodes = [Scrapyd(url) for url in urls]
    try:
        jobs: list[Job] = []
        done: set[str] = set()
        with _cancelled_when_stopped(jobs, done):
            for source in sources:
                jobs.append(least_busy(nodes).schedule(source.platform, source.id))
            while len(done) < len(jobs):
                time.sleep(POLL_SECONDS)
                done.update(job.id for job in jobs if job.id not in done and job.node.state(job) in ("finished", None))
        return [job_run(store, job) for job in jobs]
    finally:
        for node in nodes:
            node.close()


def job_run(store: Store, job: Job) -> CrawlRun:
    """The run the finished job recorded, or a failed one when it ended without closing its run."""
    run = next((run for run in store.crawl_runs(job.source_id, limit=20) if run.id == job.id), None)
    if run is not None and run.status != "running":
        return run
    error = CrawlError(message=f"Scrapyd job {job.id} ended without closing its crawl run; its log: {job.node.log_url(job)}")
    if run is None:
        now = utcnow()
        run = CrawlRun(id=job.id, source_id=job.source_id, platform=job.spider, started_at=now, finished_at=now, status="failed", errors=[error])
    else:
        run = run.model_copy(update={"status": "failed", "finished_at": utcnow(), "errors": [*run.errors, error]})
    store.record_crawl_run(run)
    return run
