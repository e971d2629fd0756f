#!/bin/sh
# Create or update the broker password file for the collector and a list of agents.
#   usage: make-credentials.sh PASSWD_FILE OUT_DIR [--strict] SITE/AGENT...
# Writes one random password per account to OUT_DIR/<user>.mqtt-password (mode 0600) for the
# collector's broker.password_file / the agent's config, and adds the hashed entry to
# PASSWD_FILE with mosquitto_passwd. With --strict it also prints per-user ACL blocks that pin
# each agent to its site (append them to the acl file instead of the agent patterns).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 PASSWD_FILE OUT_DIR [--strict] SITE/AGENT..." >&2; exit 2; }
passwd_file=$1; out=$2; shift 2
strict=0
if [ "${1:-}" = "--strict" ]; then strict=1; shift; fi
umask 077
mkdir -p "$out"
[ -f "$passwd_file" ] || : > "$passwd_file"
add() {
    pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | cut -c1-32)
    printf '%s\n' "$pw" > "$out/$1.mqtt-password"
    mosquitto_passwd -b "$passwd_file" "$1" "$pw"
}
add mrv-collector
for pair in "$@"; do
    site=${pair%%/*}; agent=${pair#*/}
    add "$agent"
    if [ "$strict" = 1 ]; then
        printf 'user %s\ntopic write mrv/v1/%s/%s/data\ntopic write mrv/v1/%s/%s/status\ntopic write mrv/v1/%s/%s/document/+\ntopic read mrv/v1/%s/%s/ack\ntopic read mrv/v1/%s/%s/notice\n\n' \
            "$agent" "$site" "$agent" "$site" "$agent" "$site" "$agent" "$site" "$agent" "$site" "$agent"
    fi
done
