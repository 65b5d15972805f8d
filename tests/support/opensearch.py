"""A real OpenSearch node for the tests: built with Maven from `tests/support/opensearch_node/`, run on loopback.

`OpenSearchNode(home).start()` resolves OpenSearch 2.19 and the modules the Vigie index design needs into the
user's Maven cache (`~/.m2`, downloaded once), compiles the small launcher (`OpenSearchNode.java`, rebuilt only
when it or its `pom.xml` changes), starts one node on a free loopback port with its data in `home`, and waits
until the cluster is green; `stop()` ends it, and a later `start()` brings it back on the same port with the same
data (the fault tests). The node also exits by itself when the Python process that started it dies.

By hand: `python -m tests.support.opensearch [HOME]` runs a node until Ctrl-C and prints its URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from tests.support.processes import end

PROJECT = Path(__file__).parent / "opensearch_node"
TARGET = PROJECT / "target"
MAIN_CLASS = "vigie.OpenSearchNode"
VERSION = "2.19.6"
HOW_TO_GET_THEM = "install Java 17+ and Maven (Debian: apt-get install openjdk-17-jdk-headless maven; Maven Central must be reachable once), or set VIGIE_OPENSEARCH_URL to a running node"
DEFAULT_HEAP = "768m"


class NodeError(RuntimeError):
    """The node could not be built or started; the message says why in one line, plus the log's tail."""


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """Major version of a `java` binary (17 for `openjdk version "17.0.15"`), None if it does not run."""
    try:
        answer = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', answer.stderr + answer.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def missing_tools() -> str | None:
    """Why no node can be built here (no Java 17+, no Maven), or None when it can."""
    java = _java()
    if java is None:
        return f"no java found: {HOW_TO_GET_THEM}"
    major = java_major(java)
    if major is None or major < 17:
        return f"{java} is Java {major or '?'}, OpenSearch {VERSION} needs 17+: {HOW_TO_GET_THEM}"
    if shutil.which("mvn") is None:
        return f"no mvn found: {HOW_TO_GET_THEM}"
    return None


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([PROJECT / "pom.xml", *(PROJECT / "src").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def classpath() -> str:
    """The launcher's classpath, building it first unless the last build is of the same sources (a lock keeps
    two test processes from building at once)."""
    stamp, listing = TARGET / "vigie-build.sha256", TARGET / "classpath.txt"
    TARGET.mkdir(exist_ok=True)
    with open(TARGET / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = _sources_digest()
        if not (stamp.is_file() and stamp.read_text() == digest and listing.is_file() and _all_exist(listing.read_text())):
            command = ["mvn", "-B", "-q", "-f", str(PROJECT / "pom.xml"), "compile", "dependency:build-classpath", f"-Dmdep.outputFile={listing}"]
            built = subprocess.run(command, capture_output=True, text=True, timeout=1200)
            if built.returncode != 0:
                tail = " | ".join(line for line in (built.stdout + built.stderr).splitlines() if "ERROR" in line)[-800:]
                raise NodeError(f"building the OpenSearch test node failed ({' '.join(command[:5])} ...): {tail}")
            stamp.write_text(digest)
    return os.pathsep.join([str(TARGET / "classes"), listing.read_text().strip()])


def _all_exist(listing: str) -> bool:
    return all(Path(jar).exists() for jar in listing.strip().split(os.pathsep) if jar)


class OpenSearchNode:
    """One node in its own JVM; its data and its log (`node.log`) live in `home`."""

    def __init__(self, home: Path, *, heap: str = DEFAULT_HEAP, settings: dict[str, str] | None = None, quick_jit: bool = True) -> None:
        """`quick_jit` compiles with the JVM's quick compiler only: the node starts in about 10 s instead of 25 and
        runs the test suite twice as fast; a benchmark that runs long turns it off for the optimising compiler."""
        self.home = Path(home)
        self.heap = heap
        self.quick_jit = quick_jit
        self.settings = dict(settings or {})
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "node.log"

    def start(self, timeout: float = 180) -> str:
        """Start (or restart, on the same port and data) and wait for a green cluster; returns the URL."""
        if self.process is not None and self.process.poll() is None:
            return self.url
        java = _java()
        if java is None:
            raise NodeError(f"no java found: {HOW_TO_GET_THEM}")
        cp = classpath()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "tmp").mkdir(exist_ok=True)
        command = [
            java,
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            *(["-XX:TieredStopAtLevel=1"] if self.quick_jit else []),
            f"-Djava.io.tmpdir={self.home / 'tmp'}",
            "-Dlog4j2.disable.jmx=true",
            "-cp",
            cp,
            MAIN_CLASS,
            str(self.home),
            str(self.port),
            *(f"{key}={value}" for key, value in self.settings.items()),
        ]
        log = open(self.log, "a")
        log.write(f"\n--- starting on port {self.port or 'any'} at {time.strftime('%H:%M:%S')}\n")
        log.flush()
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        log.close()
        line = self._first_line(timeout)
        found = re.search(r"listening http://127\.0\.0\.1:(\d+)", line)
        if not found:
            self.stop()
            raise NodeError(f"the OpenSearch test node did not start: {line.strip() or 'no answer'}; {self._log_tail()}")
        self.port = int(found.group(1))
        self._wait_green(timeout)
        return self.url

    def _first_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        return lines[0] if lines else ""

    def _wait_green(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_cluster/health?wait_for_status=green&timeout=10s", timeout=15) as answer:
                    if json.load(answer).get("status") == "green":
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or (self.process is not None and self.process.poll() is not None):
                self.stop()
                raise NodeError(f"the OpenSearch test node at {self.url} never turned green; {self._log_tail()}")
            time.sleep(0.5)

    def _log_tail(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no log"
        return f"log {self.log}: " + " | ".join(lines[-5:])[-1000:]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 60) -> None:
        """Stop the node (SIGTERM: it closes its indices cleanly), killing it if it takes longer than `timeout`."""
        process, self.process = self.process, None
        if process is None:
            return
        end(process, timeout)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def kill(self) -> None:
        """Stop the node abruptly, as a crash or a pulled plug would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def __enter__(self) -> OpenSearchNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    reason = missing_tools()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    home = Path(argv[0]) if argv else Path(tempfile.mkdtemp(prefix="vigie-opensearch-"))
    node = OpenSearchNode(home)
    print(f"starting OpenSearch {VERSION} with its data in {home} ...", flush=True)
    node.start()
    print(f"VIGIE_OPENSEARCH_URL={node.url}  (Ctrl-C stops it)", flush=True)
    try:
        while node.running():
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
