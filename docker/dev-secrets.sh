#!/bin/sh
# Writes the development secrets docker-compose.yml mounts as files (docker/secrets/, git-ignored).
# Existing files are kept, so running it again changes nothing.
set -eu
cd "$(dirname "$0")/secrets"
umask 022 # compose bind-mounts file secrets with these permissions; the gateway runs as uid 1000
new() { [ -s "$1" ] || { printf '%s\n' "$2" >"$1"; echo "wrote docker/secrets/$1"; }; }
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
new dc_admin_password "Adm!n-$(random)"
# The dev DC's fixtures give the service account this password (scripts/dev-dc/run.sh).
new ldap_bind_password 'Svc!Sentry-Bind-1'
new session_secret "$(random)"
# A real Sentry needs a user auth token here (see docs/deploying.md, "The provisioner's service user and token"); the stand-in Sentry ignores it.
new sentry_token 'stand-in-sentry-has-no-admin-api'
