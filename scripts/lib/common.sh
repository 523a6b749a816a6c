# Shared by scripts/run and scripts/test: install what is missing, configure and build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_PACKAGES=(g++ cmake ninja-build libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libspdlog-dev libcli11-dev libtomlplusplus-dev)
TEST_PACKAGES=(googletest libgtest-dev libbenchmark-dev nodejs npm gnuplot-nox curl openssl chromium)
# Debian's libmsgpack-cxx-dev is header-only but depends on libboost-dev (1.74), which conflicts with
# the Boost 1.81 we build against; its headers are therefore unpacked from the Debian package into
# the build tree (ensure_msgpack) instead of being installed.
MSGPACK_DIR="$ROOT/build/deps/msgpack-cxx"

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

# Unpacks libmsgpack-cxx-dev into $MSGPACK_DIR unless msgpack.hpp is already there or installed.
ensure_msgpack() {
  [ -f /usr/include/msgpack.hpp ] || [ -f "$MSGPACK_DIR/usr/include/msgpack.hpp" ] && return 0
  say "unpacking libmsgpack-cxx-dev (headers) into $MSGPACK_DIR"
  local tmp
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  if ! (cd "$tmp" && apt-get download -q libmsgpack-cxx-dev >/dev/null 2>&1); then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    (cd "$tmp" && apt-get download -q libmsgpack-cxx-dev >/dev/null)
  fi
  mkdir -p "$MSGPACK_DIR"
  dpkg-deb -x "$tmp"/libmsgpack-cxx-dev_*.deb "$MSGPACK_DIR"
  rm -rf "$tmp"
}

# build DIR TYPE [cmake options...]
build() {
  local dir="$1" type="$2"
  shift 2
  cmake -S "$ROOT" -B "$ROOT/$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
  cmake --build "$ROOT/$dir" -j 2
}
