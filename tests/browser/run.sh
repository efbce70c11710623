#!/usr/bin/env bash
# The browser tests (browser.test.mjs): installs what they need (Debian's chromium, a CJK font so
# names in any script render, ffmpeg for the test video, Node.js where it is missing, and
# playwright-core from npm; no browser download), generates the demo site and a WebM video once
# under WORK, and runs the tests against ZCOPY.
#   bash tests/browser/run.sh [ZCOPY [WORK]]   (defaults: build/tools/zcopy/zcopy, build/browser)
# Screenshots land in WORK/screenshots; docs/screenshots/ holds the committed ones.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
zcopy=$(realpath "${1:-build/tools/zcopy/zcopy}")
work=$(realpath -m "${2:-build/browser}")

extra=(chromium fonts-dejavu-core fonts-liberation fonts-noto-cjk ffmpeg)
command -v node >/dev/null || extra+=(nodejs)
command -v npm >/dev/null || extra+=(npm)
bash scripts/deps.sh "${extra[@]}"

(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

mkdir -p "$work"
bash scripts/demo-root.sh "$work/demo-root" "$zcopy"
video=$work/clip.webm
if [[ ! -s $video ]]; then
  # 20 s of a moving test pattern with noise, at a steady 8 Mbit/s: 20 MB, so that seeking to 90 %
  # needs bytes the browser has not fetched yet.
  ffmpeg -loglevel error -y -f lavfi -i "testsrc2=duration=20:size=640x360:rate=25,noise=alls=60:allf=t" \
    -c:v libvpx -deadline realtime -cpu-used 8 -b:v 8M -minrate 8M -maxrate 8M -bufsize 2M -g 25 \
    "$video.tmp.webm"
  mv "$video.tmp.webm" "$video"
fi

rm -rf "$work/screenshots"
cd tests/browser
ZCOPY=$zcopy ZCOPY_DEMO_ROOT=$work/demo-root ZCOPY_VIDEO=$video \
  ZCOPY_SCREENSHOTS=$work/screenshots CHROMIUM=/usr/bin/chromium \
  node --test --test-concurrency=1 --test-reporter=spec browser.test.mjs
echo "browser: screenshots in $work/screenshots"
