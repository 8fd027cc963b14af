"""`python -m cartcast.cli`."""

from cartcast.cli.app import app

app()
