"""`python -m minigpt` runs the command-line interface."""

from .cli import run

run()
