"""``python -m runtime.cli``."""

from runtime.cli import main

main()
