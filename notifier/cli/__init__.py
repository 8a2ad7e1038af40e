"""The command line: the typer app, its command groups, and the demo."""
