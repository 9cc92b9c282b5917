"""`python -m sojourn.cli`: the `sojourn` command."""

from sojourn.cli import main

main()
