#!/usr/bin/env bash
# Stop the anchor Postfix + Dovecot started by bench/anchor/setup.sh, with their own
# stop commands (no pattern-based kills). Mail in /var/vmail is kept.
set -u
if command -v postfix >/dev/null 2>&1 && postfix status >/dev/null 2>&1; then
    echo "[anchor] postfix stop"
    postfix stop
else
    echo "[anchor] postfix not running"
fi
pid=""
[ -r /run/dovecot/master.pid ] && pid="$(cat /run/dovecot/master.pid)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "[anchor] dovecot stop (master pid $pid)"
    doveadm stop 2>/dev/null || kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "[anchor] dovecot still running: pid $pid" >&2
        exit 1
    fi
else
    echo "[anchor] dovecot not running"
fi
