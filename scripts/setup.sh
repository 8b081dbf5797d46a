#!/usr/bin/env bash
# Installs what duplex needs on a fresh Debian 12 machine: Debian packages
# (only those missing) and the pinned npm packages. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libasio-dev libssl-dev zlib1g-dev libsqlite3-dev
  googletest libgtest-dev
  emscripten
  chromium
  firefox-esr                 # tests/e2e: the chat page in Firefox (puppeteer-core, WebDriver BiDi)
  webkit2gtk-driver xvfb xauth  # tests/e2e: the chat page in WebKit (WebKitWebDriver needs a display: xvfb-run)
  openssl
  clang-14 libclang-rt-14-dev
  libhiredis-dev redis-server
  python3
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm: @nozbe/simdjson (the simdjson amalgamation, both builds), playwright-core, puppeteer-core, ws,
# typescript. No package may fetch a browser: the tests drive the Debian ones above.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi
