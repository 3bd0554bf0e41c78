#!/bin/sh
# Container entry point: provisions DIR once, loads the fixtures once, then runs samba in the foreground.
# Usage: run.sh DIR ADMIN_PASSWORD   (writes DIR/svc-sentry.password for the gateway's bindPasswordFile)
set -eu
dir=$1
adminpass=$2
here=$(dirname "$0")
[ -f "$dir/etc/smb.conf" ] || "$here/provision.sh" "$dir" "$adminpass"
samba -s "$dir/etc/smb.conf" -i --debug-stdout &
pid=$!
trap 'kill "$pid"' TERM INT
if [ ! -f "$dir/.fixtures-loaded" ]; then
  i=0
  until [ -f "$dir/private/tls/ca.pem" ] && ldapsearch -x -H ldaps://127.0.0.1:636 -D "CN=Administrator,CN=Users,DC=corp,DC=example,DC=com" \
      -w "$adminpass" -b "DC=corp,DC=example,DC=com" -s base dn >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 300 ] || { echo "samba did not serve LDAPS" >&2; kill "$pid"; exit 1; }
    sleep 0.2
  done
  LDAPTLS_REQCERT=never "$here/load-fixtures.sh" ldaps://127.0.0.1:636 "$adminpass" "$dir/private/tls/ca.pem"
  printf '%s\n' 'Svc!Sentry-Bind-1' >"$dir/svc-sentry.password"
  date >"$dir/.fixtures-loaded"
  echo "fixtures loaded" >&2
fi
wait "$pid"
