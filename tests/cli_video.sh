#!/usr/bin/env bash
# `clip video`: a video of three coloured segments (red 0-2 s, green 2-4 s,
# blue 4-6 s) made with ffmpeg. Queried with frames of each segment, the
# best moment of each query must be its segment. A truncated file and a
# file that is no video give errors, not crashes.
set -u
bin=${CLIP_BIN:?CLIP_BIN must name the clip binary}
fixtures=${CLIP_FIXTURES:-${CLIP_FIXTURES_DEFAULT:-}}
[ -f "$fixtures/MANIFEST.json" ] || { echo "FATAL: fixtures not found at '$fixtures'" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "FATAL: ffmpeg is needed (scripts/install-deps.sh installs it)" >&2; exit 1; }
model="$fixtures/models/tiny-vit.safetensors"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli_video.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() { if [ "$2" == "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); printf 'FAIL %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2; fi; }

ffmpeg -loglevel error -f lavfi -i color=c=red:s=160x120:r=10:d=2 -f lavfi -i color=c=green:s=160x120:r=10:d=2 \
  -f lavfi -i color=c=blue:s=160x120:r=10:d=2 -filter_complex '[0][1][2]concat=n=3:v=1:a=0' \
  -c:v mpeg4 -q:v 2 -pix_fmt yuv420p "$tmp/colours.mp4" || { echo "FATAL: ffmpeg failed" >&2; exit 1; }
for at in red:1 green:3 blue:5; do
  ffmpeg -loglevel error -ss "${at#*:}" -i "$tmp/colours.mp4" -frames:v 1 "$tmp/${at%:*}.png"
done

out=$("$bin" video -m "$model" "$tmp/colours.mp4" --fps 2 --top 1 \
  --query-image "$tmp/red.png" --query-image "$tmp/green.png" --query-image "$tmp/blue.png" 2>"$tmp/err")
check "exit status" 0 $?
moment() { # the start and end of the best moment of query $1
  printf '%s\n' "$out" | grep -F "\"query\": \"$tmp/$1.png\"" | head -n 1 | sed -E 's/.*"start": ([0-9.]+), "end": ([0-9.]+).*/\1-\2/'
}
check "red moment" "0.000-2.000" "$(moment red)"
check "green moment" "2.000-4.000" "$(moment green)"
check "blue moment" "4.000-6.000" "$(moment blue)"
check "frames sampled" "clip video: 12 frames sampled at 2 fps" "$(cat "$tmp/err")"

# Frames into an index: the best match of the green frame is a frame of 2-4 s.
"$bin" video -m "$model" "$tmp/colours.mp4" --fps 2 --index "$tmp/frames.index" 2>/dev/null
check "video --index" 0 $?
hit=$("$bin" index search "$tmp/frames.index" -m "$model" --image "$tmp/green.png" -k 1 2>/dev/null)
t=$(printf '%s' "$hit" | sed -E 's/.*#t=([0-9.]+).*/\1/')
check "index search finds a green frame" 1 "$(awk -v t="$t" 'BEGIN { print (t >= 2 && t < 4) ? 1 : 0 }')"

head -c 4000 "$tmp/colours.mp4" > "$tmp/truncated.mp4"
"$bin" video -m "$model" "$tmp/truncated.mp4" --query-image "$tmp/red.png" >/dev/null 2>"$tmp/err"
check "truncated file fails cleanly" 1 $?
grep -q "truncated.mp4" "$tmp/err"; check "error names the file" 0 $?
head -c 100000 /dev/urandom > "$tmp/noise.mp4"
"$bin" video -m "$model" "$tmp/noise.mp4" --query-image "$tmp/red.png" >/dev/null 2>&1
check "random bytes fail cleanly" 1 $?
CLIP_LIMIT_MAX_VIDEO_FRAME_PIXELS=1000 "$bin" video -m "$model" "$tmp/colours.mp4" --query-image "$tmp/red.png" \
  >/dev/null 2>"$tmp/err"
check "frame size over the limit fails cleanly" 1 $?
grep -q "colours.mp4: video frames of .* (limit max_video_frame_pixels = 1000; raise it with CLIP_LIMIT_MAX_VIDEO_FRAME_PIXELS" \
  "$tmp/err"; check "frame limit message names file, limit and variable" 0 $?
"$bin" video --help | grep -q "usage: clip video"; check "help" 0 $?

echo "cli_video: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
