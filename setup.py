"""Only for `scrapyd-deploy`, which builds its egg with `python setup.py bdist_egg` (and would write a setup.py of
its own here otherwise); everything else is in pyproject.toml."""

from setuptools import setup

setup()
