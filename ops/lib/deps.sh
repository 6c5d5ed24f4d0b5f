#!/usr/bin/env bash
# Installs the Debian packages Chaperone builds and tests with, when any is missing.
# Sourced by ops/test and ops/demo; safe to run again.
set -euo pipefail

chaperone_apt_packages=(
  librdkafka-dev libpq-dev libopenblas-dev zlib1g-dev libspng-dev libturbojpeg0-dev pkg-config
  postgresql kafkacat python3-venv
  # The audit console's browser tests: headless Chromium driven through chromedriver.
  chromium chromium-driver fonts-dejavu-core curl
)

chaperone_install_deps() {
  local missing=()
  for pkg in "${chaperone_apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  command -v swift >/dev/null || { echo "swift (6.2 or newer) is not on PATH" >&2; return 1; }
}
