#!/usr/bin/env bash
# Installs what the demo and the tests need and are missing: npm dependencies, and Debian packages through apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(samba-ad-dc samba-ad-provision ldap-utils redis-server redis-sentinel nginx-light caddy libkrb5-dev krb5-user chromium fonts-wqy-microhei python3-django python3-jwt python3-cryptography docker-compose)
# The benchmark also drives load with wrk (nginx-light is in the list above: the nginx mode's tests run a real nginx).
if [ "${1:-}" = "--bench" ]; then PACKAGES+=(wrk); fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them as root, then run this again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "Installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these as system services on install; the demo and the tests run their own copies.
for svc in samba-ad-dc redis-server redis-sentinel nginx caddy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm dependencies"
  # Native bindings (the optional Kerberos one) build from source against the system headers: no prebuilt downloads.
  npm_config_build_from_source=true npm ci --no-audit --no-fund --loglevel=error
fi
