#!/usr/bin/env bash
# cmake/lint.sh SOURCE_DIR - the `lint` target: clang-format, the file-length limit, and that
# includes point down the layers of ARCHITECTURE.md (a module never includes from above).
set -uo pipefail
cd "${1:-.}"
status=0
MAX_LINES=800

mapfile -t sources < <(git ls-files -co --exclude-standard -- 'agent/*.[ch]' 'include/*.h' \
  'tests/*.[ch]' 'evals/*.c' 2>/dev/null || find agent include tests evals -name '*.[ch]')

if command -v clang-format >/dev/null; then
  if ! clang-format --dry-run -Werror "${sources[@]}" 2>/tmp/hale-lint-format.$$; then
    echo "lint: clang-format: these files need formatting (clang-format -i FILE):" >&2
    sed -n 's/^\([^:]*\.[ch]\):[0-9]*:[0-9]*: .*/  \1/p' /tmp/hale-lint-format.$$ | sort -u >&2
    status=1
  fi
  rm -f /tmp/hale-lint-format.$$
else
  echo "lint: clang-format not installed, format not checked" >&2
  status=1
fi

for f in "${sources[@]}"; do
  case "$f" in agent/* | include/*) ;; *) continue ;; esac
  n=$(wc -l <"$f")
  if [ "$n" -gt "$MAX_LINES" ]; then
    echo "lint: $f has $n lines (limit $MAX_LINES): split it by concern" >&2
    status=1
  fi
done

# Layer of a module directory under agent/, or of a public header include/hale/NAME.h.
layer_of() {
  case "$1" in
  util | log | config | err | limits | fwd | diag) echo 0 ;;
  store | http | net) echo 1 ;;
  detect | forecast | rca | redact | policy | audit | kb | merkle | note) echo 2 ;;
  audit_signer | audit_verify | audit_query) echo 2 ;;
  ingest | llm | chat | escalate | sandbox | catalog | runbook | witness | metrics) echo 3 ;;
  cli | api | loop | incident | main) echo 4 ;;
  *) echo "" ;;
  esac
}

for f in "${sources[@]}"; do
  case "$f" in
  agent/*/*) mod=${f#agent/}; mod=${mod%%/*} ;;
  include/hale/*) mod=${f#include/hale/}; mod=${mod%.h} ;;
  *) continue ;;
  esac
  own=$(layer_of "$mod")
  [ -n "$own" ] || { echo "lint: $f: module '$mod' has no layer in cmake/lint.sh" >&2; status=1; continue; }
  while IFS= read -r inc; do
    case "$inc" in
    hale/*) dep=${inc#hale/}; dep=${dep%.h} ;;
    */*) dep=${inc%%/*} ;;
    *) continue ;;
    esac
    [ "$dep" = "$mod" ] && continue
    dl=$(layer_of "$dep")
    [ -n "$dl" ] || continue
    if [ "$dl" -gt "$own" ]; then
      echo "lint: $f (layer $own) includes \"$inc\" from layer $dl: includes must point down" >&2
      status=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done

[ "$status" -eq 0 ] && echo "lint: ok (${#sources[@]} files)"
exit "$status"
