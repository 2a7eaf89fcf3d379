#!/usr/bin/env bash
# Install everything the tests need, then run them all (lint + pytest).
# Used as-is by the README's Quickstart and by CI (.ci/run). Re-running is cheap: apt and
# pip skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the tests drive: swaks (SMTP), mbsync/isync (IMAP), fetchmail (POP3/IMAP),
# curl (imap:// pop3:// smtp://), socat (raw control socket), openssl, man (man page check),
# strace (the durability proof: fsync before every 250/+OK/OK); for the outgoing
# transports: openssh-server (SFTP), php-cli (the seed's receiver, the webspace script),
# dnsmasq-base (MX records), e2fsprogs (chattr: a folder read-only even for root);
# dovecot-imapd/-pop3d (the provider mailbox the external-account fetch tests use).
DEB_PACKAGES=(swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl isync
              fetchmail curl socat openssl man-db ca-certificates python3-venv strace
              openssh-server php-cli dnsmasq-base e2fsprogs dovecot-imapd dovecot-pop3d)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

.venv/bin/ruff check lanmaild lanmailctl tests bench
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
