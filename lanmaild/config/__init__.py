"""Configuration: conf.d TOML files, validated into ``Config`` (see loader and writer)."""

from .errors import ConfigError
from .loader import (
    NAME_RE,
    load_config,
    register_account_section,
    register_config_check,
    register_main_section,
)
from .model import Account, Config, Group

__all__ = ["Account", "Config", "ConfigError", "Group", "NAME_RE", "load_config",
           "register_account_section", "register_config_check", "register_main_section"]
