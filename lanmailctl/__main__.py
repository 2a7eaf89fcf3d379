"""``python -m lanmailctl``."""

from lanmailctl.cli import main

main()
