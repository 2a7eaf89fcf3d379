"""Shared fixtures over the real-daemon harness in ``lmtest``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lmtest import DOMAIN, IMPLICIT_TLS, SERVICES, Daemon, free_port, free_ports, shared_dir

__all__ = ["DOMAIN", "IMPLICIT_TLS", "SERVICES", "Daemon", "free_port", "free_ports",
           "shared_dir"]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a localhost certificate (trustme)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1", common_name="localhost")  # CN: fetchmail
    d = tmp_path_factory.mktemp("tls")
    paths = {"ca": d / "ca.pem", "cert": d / "cert.pem", "key": d / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    with open(paths["cert"], "wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())
    return paths


@pytest.fixture
def daemon_factory(tmp_path, tls_files) -> Iterator:
    """Make (and always stop) daemons: ``daemon_factory(tls=True, accounts={...})``."""
    made: list[Daemon] = []

    def make(tls: bool = True, accounts: dict | None = None, start: bool = True,
             extra_toml: str = "", limits_toml: str = "") -> Daemon:
        d = Daemon(tmp_path / f"d{len(made)}", tls_files if tls else None, extra_toml,
                   limits_toml)
        for name, keys in (accounts or {}).items():
            d.add_account_file(name, **keys)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def daemon(daemon_factory) -> Daemon:
    """A running lanmaild with TLS and two accounts: meier/secret and schulze/secret."""
    return daemon_factory(accounts={"meier": {"password": "secret"},
                                    "schulze": {"password": "secret"}})
