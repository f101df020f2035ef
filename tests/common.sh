# Sourced by the tests/cli_*.sh scripts: the clip binary ($bin), the
# fixtures ($fixtures: missing ones fail the test, never skip it), a scratch
# folder ($tmp) removed on exit, and the check/contains counters that
# `finish` reports (its status is the script's: 1 when any check failed).
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
if [ ! -f "$fixtures/MANIFEST.json" ]; then
  echo "FATAL: fixtures not found at '$fixtures' (set CLIP_FIXTURES)" >&2
  exit 1
fi
mkdir -p "${CLIP_TEST_TMP:-${TMPDIR:-/tmp}}"
tmp=$(mktemp -d "${CLIP_TEST_TMP:-${TMPDIR:-/tmp}}/$(basename "$0" .sh).XXXXXX")
tmp=$(cd "$tmp" && pwd)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

check() { # check NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2
  fi
}

contains() { # contains NAME NEEDLE HAYSTACK
  case "$3" in
    *"$2"*) passed=$((passed + 1)) ;;
    *) failed=$((failed + 1)); printf 'FAIL %s: no "%s" in:\n  %s\n' "$1" "$2" "$3" >&2 ;;
  esac
}

finish() {
  echo "$(basename "$0" .sh): $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
