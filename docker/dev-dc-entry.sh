#!/bin/sh
# Entry point of the compose dev DC: provisions with scripts/dev-dc/provision.sh, opens the DC to the
# compose network, publishes its CA certificate for the gateway, then hands over to run.sh.
set -eu
dir=/var/lib/dev-dc
pass=$(cat /run/secrets/dc_admin_password)
if [ ! -f "$dir/etc/smb.conf" ]; then
  /opt/dev-dc/provision.sh "$dir" "$pass"
  # provision.sh binds the DC to loopback (right for a throwaway DC on a shared test machine);
  # in its own container it must answer the gateway over the compose network.
  sed -i -e '/^[[:space:]]*interfaces[[:space:]]*=/d' -e '/^[[:space:]]*bind interfaces only[[:space:]]*=/d' "$dir/etc/smb.conf"
fi
# Samba writes its CA under private/, which only root may read; the gateway runs as uid 1000.
(
  until [ -f "$dir/private/tls/ca.pem" ]; do sleep 1; done
  cp "$dir/private/tls/ca.pem" /dev-dc-ca/ca.pem.tmp && chmod 0644 /dev-dc-ca/ca.pem.tmp && mv /dev-dc-ca/ca.pem.tmp /dev-dc-ca/ca.pem
) &
exec /opt/dev-dc/run.sh "$dir" "$pass"
