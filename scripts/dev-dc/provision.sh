#!/bin/sh
# Provisions a throwaway Samba AD DC for CORP.EXAMPLE.COM into DIR (tests and the demo only).
# Usage: provision.sh DIR ADMIN_PASSWORD
# Only LDAP and the KDC run (the KDC for the Kerberos sign-in tests: 127.0.0.1:88), bound to
# loopback, so nothing else on the host is touched; the settings provision cannot take as options
# are appended to [global] afterwards.
set -eu
dir=$1
adminpass=$2
mkdir -p "$dir/run"
samba-tool domain provision \
  --realm=CORP.EXAMPLE.COM --domain=CORP --server-role=dc --dns-backend=NONE \
  --adminpass="$adminpass" --targetdir="$dir" --host-name=dc1 \
  --option="interfaces=lo" --option="bind interfaces only=yes" \
  --option="server services = ldap kdc" \
  --option="log file = $dir/log.%m" \
  --option="pid directory = $dir/run" \
  >"$dir/provision.log" 2>&1 || { cat "$dir/provision.log" >&2; exit 1; }
# A test that proves a rotated bind password stops working needs the old one refused at once
# (AD and Samba otherwise keep accepting it for 60 minutes).
sed -i '/^\[global\]/a\
\told password allowed period = 0' "$dir/etc/smb.conf"
# Its pid file in DIR too: by default samba writes /run/samba/samba.pid and refuses to start while
# another DC on the machine (in another network namespace) holds it.
mkdir -p "$dir/run"
sed -i '/^\[global\]/a\
\tpid directory = '"$dir"'/run' "$dir/etc/smb.conf"
