"""`python -m vigie.cli`: how `vigie up` starts crawls and the dashboard with the same interpreter."""

from vigie.cli import main

main()
