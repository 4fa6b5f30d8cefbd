#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser test of report.html (Playwright drives it; no browser is
# downloaded from elsewhere). Idempotent; without root it says what to run and the browser test is skipped.
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing chromium (for the report's browser test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "setup: warning: chromium is missing; the report's browser test will be skipped (sudo apt-get install -y chromium)" >&2
fi
