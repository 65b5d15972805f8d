"""The spiders on a real Scrapyd, as docs/scrapyd.md sets it up: deployed with `scrapyd-deploy` through the
target in scrapy.cfg, each job writing into the store named by Scrapyd's own environment (here the embedded
SQLite store in the data folder), scheduled by hand through schedule.json or by `vigie up` through
`vigie crawl --scrapyd`.

One Scrapyd and one deploy serve the module (the deploy builds an egg: seconds); each test crawls its own source.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.base import PostQuery
from tests.scheduler.support import wait_until
from tests.support.crawling import REPO, VigieProject
from tests.support.replay import Reply, ReplayServer, refusing_url
from tests.support.scrapyd import ScrapydServer
from vigie.models import CrawlRun

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEPLOY = Path(sys.executable).with_name("scrapyd-deploy")
pytestmark = pytest.mark.timeout(600)  # a loaded machine: the module's first test also starts Scrapyd and deploys

CREDENTIALS = {"VIGIE_SCRAPYD_USERNAME": "vigie", "VIGIE_SCRAPYD_PASSWORD": "s3cret"}
"""What `vigie crawl --scrapyd` sends; the module's Scrapyd asks for them, as docs/scrapyd.md says to set it up."""


@pytest.fixture(scope="module")
def replay() -> Iterator[ReplayServer]:
    with ReplayServer() as server:
        server.add("/heise.atom", FIXTURES / "rss" / "heise.atom")
        server.add("/s/feedjam", FIXTURES / "telegram" / "page_example.html", content_type="text/html; charset=utf-8")
        server.add("/ru.xml", FIXTURES / "rss" / "feed-test-ru.xml")
        server.add("/slow.atom", Reply(body=(FIXTURES / "rss" / "heise.atom").read_bytes(), delay=4), content_type="application/atom+xml")
        yield server


def sources(replay: ReplayServer) -> list[dict[str, object]]:
    return [
        {"id": "heise", "platform": "feed", "url": replay.url("/heise.atom"), "enabled": False},  # scheduled by hand
        {"id": "feedjam", "platform": "telegram", "channel": "feedjam", "base_url": replay.base_url, "every": "1h"},
        {"id": "aif", "platform": "feed", "url": replay.url("/ru.xml"), "enabled": False},  # crawled past a node that is down
        {"id": "slow", "platform": "feed", "url": replay.url("/slow.atom"), "enabled": False},  # stopped part-way
    ]


@pytest.fixture(scope="module")
def vigie(tmp_path_factory: pytest.TempPathFactory, replay: ReplayServer) -> VigieProject:
    """The config and data folders shared by Scrapyd's jobs and `vigie up`: one config folder, one store."""
    project = VigieProject(tmp_path_factory.mktemp("vigie"))
    project.configure(sources(replay))
    return project


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory: pytest.TempPathFactory, vigie: VigieProject) -> Iterator[ScrapydServer]:
    """Scrapyd with the environment docs/scrapyd.md gives it, the project deployed as an operator does: the
    [deploy] target of scrapy.cfg through VIGIE_SCRAPYD_URL, the credentials from the deploying user's ~/.netrc."""
    env = {"VIGIE_CONFIG": str(vigie.config_dir), "VIGIE_DATA_DIR": str(vigie.data_dir), "SCRAPYD_USERNAME": "vigie", "SCRAPYD_PASSWORD": "s3cret"}
    with ScrapydServer(tmp_path_factory.mktemp("scrapyd"), env=env) as server:
        home = tmp_path_factory.mktemp("home")
        (home / ".netrc").write_text("machine 127.0.0.1 login vigie password s3cret\n", encoding="utf-8")
        (home / ".netrc").chmod(0o600)
        deploy_env = os.environ | {"VIGIE_SCRAPYD_URL": server.url, "HOME": str(home)}
        deploy = subprocess.run([str(DEPLOY)], cwd=REPO, env=deploy_env, capture_output=True, text=True, timeout=300, check=False)
        assert deploy.returncode == 0, f"scrapyd-deploy exited {deploy.returncode}:\n{deploy.stdout}\n{deploy.stderr[-3000:]}"
        answer = json.loads(deploy.stdout)
        assert (answer["status"], answer["project"], answer["spiders"]) == ("ok", "vigie", 10)
        yield server


def test_a_job_scheduled_through_schedule_json_writes_its_posts_and_run_to_the_store(scrapyd: ScrapydServer, vigie: VigieProject) -> None:
    assert scrapyd.api("listspiders.json", project="vigie")["spiders"] == sorted(
        ["bluesky", "feed", "forum", "imageboard", "mastodon", "odysee", "peertube", "reddit", "telegram", "youtube"]
    )
    scheduled = scrapyd.api("schedule.json", {"project": "vigie", "spider": "feed", "source": "heise"})
    assert scheduled["status"] == "ok", scheduled
    job = scheduled["jobid"]
    scrapyd.wait_finished("vigie", job)

    log = scrapyd.job_log("vigie", "feed", job)
    assert f"source heise: run {job} ok: 1 pages, 15 new, 0 updated, 0 dropped, 0 errors" in log, log[-3000:]
    with vigie.store() as store:
        (run,) = store.crawl_runs("heise")  # in the SQLite store of the data folder Scrapyd was given
    assert (run.id, run.status, run.pages, run.new_posts, run.errors) == (job, "ok", 1, 15, [])
    posts = vigie.posts("heise")
    assert len(posts) == 15
    assert {post.language for post in posts} == {"de"}
    assert vigie.cursor("heise")["last_run_id"] == job


def test_vigie_up_crawls_through_scrapyd_and_logs_each_jobs_run(scrapyd: ScrapydServer, vigie: VigieProject, replay: ReplayServer) -> None:
    command = [sys.executable, "-m", "vigie.cli", "crawl", "--json", "--scrapyd", scrapyd.url, "{source}"]
    config = vigie.configure(
        sources(replay),
        settings={"schedule": {"jitter": 0, "stop_grace": 5, "crawl_command": command}, "log": {"json_lines": True}, "alerts": {"check_every": "1h"}},
    )
    service = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli", "--config", str(vigie.config_dir), "--data-dir", str(vigie.data_dir), "up", "--no-dashboard"],
        env={name: value for name, value in os.environ.items() if not name.startswith("VIGIE_")} | CREDENTIALS,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log_file = config.data_dir / "logs" / "vigie.log"

    def crawl_line() -> dict[str, object] | None:
        lines = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.exists() else []
        return next((line for line in lines if line.get("source") == "feedjam" and str(line.get("msg", "")).startswith("crawl ")), None)

    try:
        logged = wait_until(crawl_line, timeout=180)
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    finally:
        service.kill()
    with vigie.store() as store:
        (run,) = store.crawl_runs("feedjam")
        assert store.count_posts(PostQuery(sources=("feedjam",))) == 7
    assert (run.status, run.pages, run.new_posts) == ("ok", 1, 7)
    assert (logged["msg"], logged["run_id"], logged["new_posts"]) == ("crawl finished", run.id, 7)
    finished = {entry["id"]: entry for entry in scrapyd.api("listjobs.json", project="vigie")["finished"]}
    assert finished[run.id]["spider"] == "telegram"  # the run is the Scrapyd job's


def test_vigie_crawl_says_in_one_line_when_scrapyd_is_down_locked_or_refuses(vigie: VigieProject, tmp_path: Path) -> None:
    """The line the scheduler records as the failed run's error; the credentials come from the environment."""
    with refusing_url("/") as down:
        result = vigie.cli("crawl", "--scrapyd", down, "heise")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Error: Scrapyd at {down} cannot be reached: [Errno 111] Connection refused"]

    with ScrapydServer(tmp_path / "guarded", env={"SCRAPYD_USERNAME": "vigie", "SCRAPYD_PASSWORD": "s3cret"}) as guarded:  # nothing deployed to it
        locked = vigie.cli("crawl", "--scrapyd", guarded.url, "heise", env={"VIGIE_SCRAPYD_USERNAME": "vigie", "VIGIE_SCRAPYD_PASSWORD": "guess"})
        let_in = vigie.cli("crawl", "--scrapyd", guarded.url, "heise", env=CREDENTIALS)
    assert locked.returncode == let_in.returncode == 1
    assert locked.stderr.splitlines() == [f"Error: Scrapyd at {guarded.url}: daemonstatus.json answered HTTP 401 Unauthorized"]
    assert let_in.stderr.splitlines() == [f"Error: Scrapyd at {guarded.url}: schedule.json refused: project 'vigie' not found"]
    with vigie.store() as store:
        assert [run for run in store.crawl_runs("heise") if run.status != "ok"] == []  # nothing ran: nothing recorded


def test_stopping_vigie_crawl_cancels_its_scrapyd_job(scrapyd: ScrapydServer, vigie: VigieProject) -> None:
    """What the scheduler does at `crawl.run_timeout` or shutdown: SIGTERM to the command, which cancels the job."""
    command = [sys.executable, "-m", "vigie.cli", "--config", str(vigie.config_dir), "--data-dir", str(vigie.data_dir), "crawl", "--scrapyd", scrapyd.url, "slow"]
    crawl = subprocess.Popen(command, env={name: value for name, value in os.environ.items() if not name.startswith("VIGIE_")} | CREDENTIALS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def started() -> str | None:
        with vigie.store() as store:
            return next((run.id for run in store.crawl_runs("slow") if run.status == "running"), None)

    try:
        job = wait_until(started, timeout=180)  # the job's spider has begun its run and waits for the slow page
        crawl.send_signal(signal.SIGTERM)
        _, stderr = crawl.communicate(timeout=30)
    finally:
        crawl.kill()
    assert (crawl.returncode, stderr.strip()) == (130, "aborted")
    scrapyd.wait_finished("vigie", job, timeout=60)
    assert "Spider closed (shutdown)" in scrapyd.job_log("vigie", "feed", job)  # cancel.json sent the job SIGTERM
    with vigie.store() as store:
        (run,) = store.crawl_runs("slow")
    assert run.id == job and run.status != "ok" and run.finished_at is not None
    assert any("shut" in error.message for error in run.errors), run.errors


def test_with_several_nodes_a_job_goes_to_one_that_answers(scrapyd: ScrapydServer, vigie: VigieProject) -> None:
    with refusing_url("/") as down:
        result = vigie.cli("crawl", "--json", "--scrapyd", down, "--scrapyd", scrapyd.url, "aif", env=CREDENTIALS)
    assert result.returncode == 0, result.stderr
    (run,) = [CrawlRun.model_validate_json(line) for line in result.stdout.splitlines()]
    assert (run.source_id, run.status, run.pages, run.new_posts) == ("aif", "ok", 1, 1)
    finished = {entry["id"] for entry in scrapyd.api("listjobs.json", project="vigie")["finished"]}
    assert run.id in finished
    assert [post.id for post in vigie.posts("aif")] == ["feed:http://www.aif.ru/incidents/smi_sobaka_v_tailande_spasla_zazhivo_pohoronennogo_mladenca"]


def test_a_job_that_ends_without_its_run_is_recorded_as_failed_with_its_log(scrapyd: ScrapydServer, vigie: VigieProject, replay: ReplayServer, tmp_path: Path) -> None:
    """The scheduler host knows a source the node's config folder lacks (a config not copied): the job fails at start."""
    scheduler_host = VigieProject(tmp_path)
    scheduler_host.data_dir = vigie.data_dir  # the store both write to
    scheduler_host.configure([*sources(replay), {"id": "ghost", "platform": "feed", "url": replay.url("/ghost.xml")}])
    result = scheduler_host.cli("crawl", "--json", "--scrapyd", scrapyd.url, "ghost", env=CREDENTIALS)
    assert result.returncode == 0, result.stderr  # a failed source is recorded, as by a local crawl
    (run,) = [CrawlRun.model_validate_json(line) for line in result.stdout.splitlines()]
    log_url = f"{scrapyd.url}logs/vigie/feed/{run.id}.log"
    assert (run.source_id, run.status, [error.message for error in run.errors]) == ("ghost", "failed", [f"Scrapyd job {run.id} ended without closing its crawl run; its log: {log_url}"])
    assert "ghost" in scrapyd.job_log("vigie", "feed", run.id)  # the log names the unknown source
    with vigie.store() as store:
        assert store.crawl_runs("ghost") == [run]
