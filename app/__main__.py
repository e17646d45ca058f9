"""`python -m app` is the `memql` command."""

from app.cli import main

main()
