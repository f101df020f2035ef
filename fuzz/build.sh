#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.c as a libFuzzer binary (clang, ASan + UBSan)
# linked against the library sources, into ${1:-build-fuzz}.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build-fuzz}
modules=$(sed -e 's/#.*//' "$here/scripts/pkg-modules.txt" | tr -s ' \n' ' ')
mkdir -p "$out/obj"
# Objects are reused only while no header changed since the last build
# (a header change can alter any object).
stamp="$out/obj/.stamp"
if [ -f "$stamp" ] && [ -n "$(find "$here/src" "$here/include" -name '*.h' -newer "$stamp" -print -quit)" ]; then
  rm -f "$out"/obj/*.o
fi
touch "$stamp.new"
cflags="-g -O1 -std=c17 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I$here/include -I$here/src $(pkg-config --cflags $modules)"
# giflib has no pkg-config file.
libs="$(pkg-config --libs $modules) -lgif -lpthread -lm"
objs=()
while IFS= read -r -d '' src; do
  obj="$out/obj/$(echo "${src#$here/src/}" | tr '/' '_').o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    clang $cflags -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done < <(find "$here/src" -name '*.c' -print0)
mv "$stamp.new" "$stamp"
for target in "$here"/fuzz/fuzz_*.c; do
  name=$(basename "$target" .c)
  clang $cflags -fsanitize=fuzzer "$target" "${objs[@]}" $libs -o "$out/$name"
  echo "built $out/$name"
done
