#!/bin/bash
# Cluster init script: the system Chromium on every node of a Databricks cluster, for
# the render stage (Playwright drives /usr/bin/chromium; it never downloads a browser).
#
# Databricks Runtime 16+ runs Ubuntu 24.04, whose `chromium` package is only a stub
# for the snap, and snaps do not run in the runtime's containers. So Chromium comes
# from Debian 12, pinned so that nothing else is taken from there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
if [ "${ID}" = "debian" ]; then
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core
else
  apt-get update -qq
  apt-get install -y -qq debian-archive-keyring
  cat > /etc/apt/sources.list.d/debian-bookworm.list <<'LIST'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
LIST
  cat > /etc/apt/preferences.d/chromium-from-debian <<'PIN'
Package: *
Pin: origin deb.debian.org
Pin-Priority: 100

Package: chromium chromium-common chromium-sandbox
Pin: origin deb.debian.org
Pin-Priority: 700
PIN
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core
fi
/usr/bin/chromium --headless --no-sandbox --disable-gpu --dump-dom about:blank > /dev/null
echo "chromium ready: $(/usr/bin/chromium --version)"
