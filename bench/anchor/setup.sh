#!/usr/bin/env bash
# Install and start the benchmark anchor: Postfix (SMTP) -> LMTP -> Dovecot (Maildir,
# IMAP, POP3) on 127.0.0.1 only, high ports, plaintext auth, one virtual user.
#
# The settings match the anchor numbers of issue 5 (Debian 12 packages, durability left
# at the package defaults: Postfix fsyncs every queue file before its 250, Dovecot uses
# mail_fsync=optimized). The only deviation from the defaults is
# mail_max_userip_connections=256, because every bench client is the same user from
# 127.0.0.1.
#
# Idempotent: it rewrites the files it owns and (re)starts both daemons. Needs root and
# apt (Debian/Ubuntu). Stop with bench/anchor/stop.sh.
#
#   bash bench/anchor/setup.sh
#   python3 bench/lanmailbench.py run --anchor        # then measure
#
# Environment: SMTP_PORT (10025) IMAP_PORT (10143) POP3_PORT (10110)
#              BENCH_USER (bench@lan.test) BENCH_PASS (benchpass)
set -euo pipefail

SMTP_PORT="${SMTP_PORT:-10025}"
IMAP_PORT="${IMAP_PORT:-10143}"
POP3_PORT="${POP3_PORT:-10110}"
ADDR=127.0.0.1
BENCH_USER="${BENCH_USER:-bench@lan.test}"
BENCH_PASS="${BENCH_PASS:-benchpass}"
DOMAIN="${BENCH_USER#*@}"
VMAIL_HOME=/var/vmail
VMAIL_ID="${VMAIL_ID:-5000}"
USERIP_CONN="${USERIP_CONN:-256}"

say() { printf '[anchor] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "bench/anchor/setup.sh: must run as root" >&2; exit 1; }

# --------------------------------------------------------------------------- packages
want="postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd"
todo=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        todo="$todo $p"
    fi
done
if [ -n "$todo" ]; then
    say "apt-get install$todo"
    # keep the packages from starting daemons with their stock (port 25/143/110) config
    policy_added=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=yes
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $todo
    [ "$policy_added" = yes ] && rm -f /usr/sbin/policy-rc.d
else
    say "packages present"
fi

# --------------------------------------------------------------------------- vmail
getent group vmail >/dev/null || groupadd -g "$VMAIL_ID" vmail
getent passwd vmail >/dev/null \
    || useradd -u "$VMAIL_ID" -g vmail -d "$VMAIL_HOME" -s /usr/sbin/nologin -M vmail
VMAIL_ID="$(id -u vmail)"
install -d -o vmail -g vmail -m 0750 "$VMAIL_HOME"

# --------------------------------------------------------------------------- postfix
say "postfix: SMTP on $ADDR:$SMTP_PORT, $DOMAIN -> lmtp:unix:private/dovecot-lmtp"
cat > /etc/postfix/main.cf <<EOF
# Written by LANMail bench/anchor/setup.sh (benchmark anchor only).
compatibility_level = 3.6
myhostname = mx.$DOMAIN
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination = localhost
inet_interfaces = $ADDR
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP
biff = no
append_dot_mydomain = no
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = none
smtp_tls_security_level = none
lmtp_tls_security_level = none
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = hash:/etc/postfix/vmailbox
virtual_transport = lmtp:unix:private/dovecot-lmtp
maillog_file = /var/log/postfix.log
EOF
printf '%s OK\n' "$BENCH_USER" > /etc/postfix/vmailbox
postmap hash:/etc/postfix/vmailbox
[ -e /etc/aliases ] || printf 'postmaster: root\n' > /etc/aliases
newaliases
# drop every inet smtpd service (the stock *:25 one and earlier runs of this script),
# then add ours on the loopback high port
for svc in $(postconf -M | awk '$2 == "inet" && $NF == "smtpd" {print $1}'); do
    postconf -MX "$svc/inet"
done
postconf -M "$ADDR:$SMTP_PORT/inet=$ADDR:$SMTP_PORT inet n - y - - smtpd"

# --------------------------------------------------------------------------- dovecot
say "dovecot: IMAP $ADDR:$IMAP_PORT, POP3 $ADDR:$POP3_PORT, Maildir in $VMAIL_HOME"
if [ -e /etc/dovecot/dovecot.conf ] && [ ! -e /etc/dovecot/dovecot.conf.dist ]; then
    cp -p /etc/dovecot/dovecot.conf /etc/dovecot/dovecot.conf.dist
fi
cat > /etc/dovecot/dovecot.conf <<EOF
# Written by LANMail bench/anchor/setup.sh (benchmark anchor only); self-contained,
# the package's file is kept as dovecot.conf.dist.
protocols = imap pop3 lmtp
listen = $ADDR
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = /var/log/dovecot.log
mail_location = maildir:~/Maildir
mail_uid = vmail
mail_gid = vmail
first_valid_uid = $VMAIL_ID
last_valid_uid = $VMAIL_ID
# mail_fsync: package default (optimized)
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u /etc/dovecot/bench-users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$VMAIL_HOME/%d/%n
}
service imap-login {
  inet_listener imap {
    address = $ADDR
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = $ADDR
    port = $POP3_PORT
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
protocol imap {
  mail_max_userip_connections = $USERIP_CONN
}
protocol pop3 {
  mail_max_userip_connections = $USERIP_CONN
}
EOF
( umask 027; printf '%s:{PLAIN}%s\n' "$BENCH_USER" "$BENCH_PASS" > /etc/dovecot/bench-users )
chown root:dovecot /etc/dovecot/bench-users
chmod 0640 /etc/dovecot/bench-users
touch /var/log/dovecot.log /var/log/postfix.log
doveconf -n >/dev/null

# --------------------------------------------------------------------------- start
/usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true   # sync the chroot
postfix check
if postfix status >/dev/null 2>&1; then
    say "postfix reload"
    postfix reload
else
    say "postfix start"
    # the daemons must not keep our stdout/stderr open
    postfix start </dev/null >/var/log/postfix-start.log 2>&1 \
        || { cat /var/log/postfix-start.log >&2; exit 1; }
fi
if [ -r /run/dovecot/master.pid ]; then
    old="$(cat /run/dovecot/master.pid)"
    if kill -0 "$old" 2>/dev/null; then
        say "dovecot restart (listeners changed need a restart)"
        doveadm stop </dev/null >/dev/null 2>&1 || kill "$old"
        for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
    fi
fi
say "dovecot start"
dovecot </dev/null >/var/log/dovecot-start.log 2>&1 \
    || { cat /var/log/dovecot-start.log >&2; exit 1; }

# --------------------------------------------------------------------------- check
for _ in $(seq 50); do
    ss -ltn | grep -q "$ADDR:$POP3_PORT " && ss -ltn | grep -q "$ADDR:$SMTP_PORT " && break
    sleep 0.1
done
ss -ltnp | awk 'NR == 1 || /master|dovecot/'
if ss -ltnp | awk '/"(master|dovecot)"/ {print $4}' | grep -v "^$ADDR:"; then
    echo "ERROR: a mail daemon listens on a non-loopback address" >&2
    exit 1
fi
say "postfix $(postconf -h mail_version) master pid $(tr -d ' ' < /var/spool/postfix/pid/master.pid)"
say "dovecot $(dovecot --version | cut -d' ' -f1) master pid $(cat /run/dovecot/master.pid)"
say "durability: dovecot mail_fsync=$(doveconf -h mail_fsync); postfix fsyncs queue files before 250"
say "ready: python3 bench/lanmailbench.py run --anchor"
