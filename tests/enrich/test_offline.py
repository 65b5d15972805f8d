"""The language models and the Public Suffix List ship inside the wheels: nothing is ever downloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OFFLINE_SCRIPT = r"""
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("network access attempted: " + repr(args[:2]))

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from enrich.entities import registered_domain
from enrich.language import FastTextDetector, LanguageIdentifier
from vigie.config import LanguageSettings

identifier = LanguageIdentifier.from_settings(LanguageSettings())
print(json.dumps({
    "fasttext": FastTextDetector().rank("la réunion aura lieu jeudi soir")[0][0],
    "combined": identifier.identify("merci beaucoup").language,
    "domain": registered_domain("https://news.example.co.uk/a"),
}))
"""


def test_detectors_and_domains_work_with_the_network_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "FTLANG_CACHE": str(cache), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(cache), "TLDEXTRACT_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"fasttext": "fr", "combined": "fr", "domain": "example.co.uk"}
    assert list(cache.rglob("*")) == [], "nothing may be downloaded or cached"
