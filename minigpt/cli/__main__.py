"""`python -m minigpt.cli` (what `torchrun ... -m minigpt.cli` starts) runs the command line."""

from . import run

run()
