#!/bin/sh
# Loads fixtures.ldif into a running DC as Administrator over LDAPS, then points primary's
# primaryGroupID at "Sentry Users" (its RID is only known once the group exists).
# Usage: load-fixtures.sh LDAPS_URI ADMIN_PASSWORD CA_FILE
# Set LDAPTLS_REQCERT=never when the URI's host is not the name in the DC's certificate.
set -eu
uri=$1
adminpass=$2
export LDAPTLS_CACERT="$3"
here=$(dirname "$0")
base='DC=corp,DC=example,DC=com'
admin="CN=Administrator,CN=Users,$base"

ldapmodify -x -H "$uri" -D "$admin" -w "$adminpass" -f "$here/fixtures.ldif" >/dev/null

# The last 4 bytes of the binary objectSid are the RID, little-endian.
sid_b64=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$uri" -D "$admin" -w "$adminpass" \
  -b "CN=Sentry Users,OU=Groups,$base" -s base objectSid | sed -n 's/^objectSid:: //p')
rid=$(printf '%s' "$sid_b64" | base64 -d | tail -c 4 | od -An -tu4 --endian=little | tr -d ' ')
[ -n "$rid" ] || { echo "could not read the RID of Sentry Users" >&2; exit 1; }

ldapmodify -x -H "$uri" -D "$admin" -w "$adminpass" >/dev/null <<LDIF
dn: CN=primary,OU=People,$base
changetype: modify
replace: primaryGroupID
primaryGroupID: $rid
-
LDIF
