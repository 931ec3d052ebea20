#!/usr/bin/env bash
# Installs what ragws needs to build, test and run on Debian 12, and nothing
# that is already there. Idempotent; when everything is present it only runs
# one dpkg-query (and a timestamp test for node_modules) and exits 0.
#
#   scripts/deps.sh          # as root: installs what is missing
#                            # not root: prints the apt-get command, exit 1
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  build-essential pkg-config clang
  libwslay-dev libpq-dev libcurl4-openssl-dev libjansson-dev libjwt-dev
  libinih-dev libsystemd-dev zlib1g-dev libssl-dev
  postgresql-15 postgresql-client-15
  python3-websockets curl
  prometheus
  poppler-utils tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra libxml2-dev
  python3-reportlab python3-pil fonts-dejavu-core
  systemd
  chromium
)
# npm is needed for the npm-based tests and the k6 type-check; add Debian's
# only when no npm is on PATH (a NodeSource node already ships its own).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

# One dpkg-query for all packages: a package counts as present only in the
# state "install ok installed" (not removed-with-config-files, not half-installed).
declare -A present=()
while read -r name status; do
  [[ $status == "install ok installed" ]] && present[$name]=1
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)

missing=()
for p in "${packages[@]}"; do
  [[ -n ${present[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if ((EUID != 0)); then
    echo "deps: missing: ${missing[*]}" >&2
    echo "deps: run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive $install_cmd" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "deps: apt-get update"
  apt-get update -qq
  echo "deps: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "deps: installed ${#missing[@]} package(s)"
else
  echo "deps: all ${#packages[@]} Debian packages present"
fi

# npm dependencies of the repository (package.json is owned by the tests).
if [[ -f $repo/package.json ]]; then
  cd "$repo"
  if [[ ! -f package-lock.json ]]; then
    echo "deps: package.json without package-lock.json: npm install (lockfile not written)"
    npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
    touch node_modules
  elif [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
    echo "deps: npm ci (node_modules missing or older than package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
    # npm ci recreates node_modules, but mark it explicitly so that the
    # timestamp test above holds even when the lockfile has no packages.
    mkdir -p node_modules && touch node_modules
  else
    echo "deps: node_modules up to date"
  fi
fi
