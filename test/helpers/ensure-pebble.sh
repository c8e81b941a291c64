#!/bin/sh
# Installs Pebble (Let's Encrypt's test CA, Debian package `pebble`, with pebble-challtestsrv) for the ACME
# integration tests when it is missing. Run before the tests (CI) or by test/helpers/pebble.ts on demand.
set -e
if command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo -n"; fi
# A fresh machine may have no package lists yet: update only when the first install attempt fails.
$SUDO apt-get install -y pebble || { $SUDO apt-get update && $SUDO apt-get install -y pebble; }
