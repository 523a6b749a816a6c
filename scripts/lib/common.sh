# Shared by scripts/run and scripts/test: install what is missing, configure and build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_PACKAGES=(g++ cmake ninja-build libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libspdlog-dev libcli11-dev libtomlplusplus-dev)
TEST_PACKAGES=(googletest libgtest-dev nodejs npm)

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

# Installs the Debian packages that are not installed yet (apt-get needs root).
ensure_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  # Node from another source (nvm, NodeSource) already satisfies nodejs/npm.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    local kept=()
    for package in "${missing[@]}"; do [[ "$package" == nodejs || "$package" == npm ]] || kept+=("$package"); done
    missing=("${kept[@]+"${kept[@]}"}")
    [ ${#missing[@]} -eq 0 ] && return 0
  fi
  say "installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR TYPE [cmake options...]
build() {
  local dir="$1" type="$2"
  shift 2
  cmake -S "$ROOT" -B "$ROOT/$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j 2
}
