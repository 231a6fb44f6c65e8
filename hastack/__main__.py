"""`python -m hastack` runs the CLI."""

from hastack.cli import main

main()
