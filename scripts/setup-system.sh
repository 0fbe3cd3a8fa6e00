#!/usr/bin/env bash
# Installs what the platform needs from Debian (fonts, HarfBuzz subsetter, poppler, chromium)
# and creates the Python virtual environment. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
want_pkgs=(fonts-noto-cjk libharfbuzz-subset0 poppler-utils)
if [[ "${WITH_BROWSER:-0}" == "1" ]]; then want_pkgs+=(chromium); fi
for pkg in "${want_pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "==> apt-get install ${need[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
# Re-install only when pyproject.toml changed since the last install.
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f "$stamp" ]]; then
  echo "==> pip install -e .[dev]"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
