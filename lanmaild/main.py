"""``lanmaild`` command line: load conf.d, run the daemon, print one-line errors."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from . import __version__
from .config import ConfigError, load_config
from .daemon import run
from .errors import FatalError, StartupError
from .logsafe import SafeFormatter
from .memtune import tune_malloc
from .net import ListenError

EX_CONFIG = 78  # sysexits: configuration error
EX_SOFTWARE = 70  # sysexits: internal error (the store writer died)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lanmaild",
        description="LANMail daemon: SMTP, IMAP4 and POP3 for a small network. "
                    "See lanmaild(8) and lanmail.toml(5).")
    p.add_argument("--config-dir", metavar="DIR",
                   default=os.environ.get("LANMAIL_CONFIG_DIR", "/etc/lanmail"),
                   help="folder with lanmaild.toml, accounts/ and groups/ "
                        "(env LANMAIL_CONFIG_DIR; default /etc/lanmail)")
    p.add_argument("--check", action="store_true",
                   help="validate the configuration and exit (0 = valid)")
    p.add_argument("--log-level", default=os.environ.get("LANMAIL_LOG_LEVEL", "info"),
                   choices=["debug", "info", "warning", "error"], help="default: info")
    p.add_argument("--version", action="version", version=f"lanmaild {__version__}")
    return p


def setup_logging(level: str) -> None:
    """One line per event on stderr; client text cannot forge lines (``logsafe``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's own chatter
    logging.getLogger("asyncio").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config_dir)
    except ConfigError as exc:
        print(f"lanmaild: {exc}", file=sys.stderr)
        return EX_CONFIG
    if args.check:
        print(f"{config.config_dir}: configuration is valid "
              f"({len(config.accounts)} accounts, {len(config.groups)} groups)")
        return 0
    setup_logging(args.log_level)
    tune_malloc()  # before any thread starts (see memtune)
    try:
        asyncio.run(run(config))
    except (StartupError, ListenError, ConfigError) as exc:
        print(f"lanmaild: {exc}", file=sys.stderr)
        return 1
    except FatalError as exc:
        print(f"lanmaild: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
