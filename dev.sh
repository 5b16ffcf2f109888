#!/usr/bin/env bash
# dev.sh - the two set-up commands of README.md.
#   ./dev.sh run  [hale run options]   install what is missing, build, run the controller
#   ./dev.sh test                      install what is missing, build, run every test, then
#                                      the unit tests again under ASan and UBSan, the
#                                      threaded ones under TSan, and each libFuzzer target for
#                                      a short smoke run (FUZZ_SECONDS, default 10)
# Debian packages are installed with apt-get only when missing (root or sudo needed then).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES=(build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libjansson-dev
  libsqlite3-dev libsodium-dev libpcre2-dev libhttp-parser-dev libseccomp-dev libcmocka-dev)
TEST_PACKAGES=(prometheus prometheus-alertmanager clang-format clang libclang-rt-14-dev)

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
      printf '%s\n' "$p"
  done
}

install_missing() {
  local missing sudo=""
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "dev.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "dev.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Fresh machines have no package lists; update once, then install without recommends
  # (prometheus recommends node-exporter, which we neither need nor want started).
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [cmake options...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}

case "${1:-}" in
run)
  shift
  install_missing "${BUILD_PACKAGES[@]}"
  build build
  exec ./build/hale run "$@"
  ;;
test)
  install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
  build build -DHALE_WERROR=ON
  cmake --build build --target lint
  (cd build && ctest --output-on-failure -j 2)
  build build-asan -DHALE_WERROR=ON -DHALE_SANITIZE=address,undefined
  (cd build-asan && ctest --output-on-failure -j 2 -L unit)
  # The loop hands the store to commit jobs on the threadpool: ThreadSanitizer checks the
  # tests that run threads.
  build build-tsan -DHALE_WERROR=ON -DHALE_SANITIZE=thread
  (cd build-tsan && ctest --output-on-failure -j 2 -L unit -R '^(loop|http|audit_signer)$')
  # Parsers of hostile input get a short libFuzzer run each (clang, ASan and UBSan); longer
  # runs are in docs/testing.md.
  CC=clang build build-fuzz -DHALE_FUZZ=ON -DHALE_SANITIZE=address,undefined
  for fuzzer in build-fuzz/fuzz_*; do
    [ -x "$fuzzer" ] || continue
    name=$(basename "$fuzzer")
    corpus=$(mktemp -d)
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    echo "dev.sh: fuzz smoke $name (${FUZZ_SECONDS:-10} s)" >&2
    "$fuzzer" -max_total_time="${FUZZ_SECONDS:-10}" -rss_limit_mb=2048 "${dict[@]}" "$corpus" \
      >"$corpus.log" 2>&1 || { tail -40 "$corpus.log" >&2; rm -rf "$corpus" "$corpus.log"; exit 1; }
    rm -rf "$corpus" "$corpus.log"
  done
  ;;
*)
  echo "usage: ./dev.sh run [hale run options] | ./dev.sh test" >&2
  exit 2
  ;;
esac
