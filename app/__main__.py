"""`python -m app` is the `memql` command."""

from app.web.cli import main

main()
