"""The `cartcast` command line (`cartcast.cli.app:app`), one module per command group."""
