#!/usr/bin/env bash
# Debian packages Smart Customs needs: mosquitto (MQTT broker for bonded-cargo tracking),
# chromium + chromium-driver (the web console's tests drive a real headless browser),
# fonts-noto-cjk (Chinese, Japanese and Korean text renders as text in that browser, not as
# empty boxes: goods are described in Chinese at TW).
# Installs them when missing; needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/*CJK* >/dev/null 2>&1 \
  || need+=(fonts-noto-cjk)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Another apt (unattended upgrades, a second checkout installing at the same time) may hold
# apt's locks: wait for it -- up to 10 minutes -- instead of failing the whole build.
apt_retry() {
  local out
  for _ in $(seq 120); do
    out=$("$@" 2>&1) && return 0
    grep -q "Could not get lock" <<<"$out" || { echo "$out" >&2; return 1; }
    echo "apt is busy in another process; waiting" >&2
    sleep "${APT_WAIT_S:-5}"
  done
  echo "$out" >&2
  return 1
}
apt_retry $SUDO apt-get update -qq
apt_retry $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
