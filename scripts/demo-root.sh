#!/usr/bin/env bash
# Generates the demo site that `scripts/main.sh` serves: files of several sizes (random bytes,
# with their SHA-256 sums), the report of `zcopy bench --quick`, and an index page linking them.
#   bash scripts/demo-root.sh DIR [ZCOPY_BINARY]
# Kept between runs: a DIR that already holds a complete site is left as it is.
set -euo pipefail
root=${1:?usage: scripts/demo-root.sh DIR [ZCOPY_BINARY]}
zcopy=${2:-build/tools/zcopy/zcopy}

if [[ -f $root/.complete ]]; then
  exit 0
fi
rm -rf "$root"
mkdir -p "$root/files"

sizes=(1K:1024 64K:65536 1M:1048576 16M:16777216 256M:268435456)
for spec in "${sizes[@]}"; do
  head -c "${spec#*:}" /dev/urandom >"$root/files/random-${spec%%:*}.bin"
done
(cd "$root/files" && sha256sum random-*.bin >SHA256SUMS)

bench_link=""
if "$zcopy" bench --quick --html "$root/bench.html" --json "$root/bench.json" >"$root/bench.txt" 2>&1; then
  bench_link='<li><a href="bench.html">zcopy bench --quick</a>: every copy method measured on this machine
  (<a href="bench.txt">table</a>, <a href="bench.json">JSON</a>)</li>'
fi

{
  cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>zcopy serve</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2em}td{padding:.1em 1em .1em 0}</style></head>
<body>
<h1>zcopy serve</h1>
<p>This page and the files below are sent by <code>zcopy serve</code>: file bodies leave with
<code>sendfile(2)</code>, from the page cache to the socket without a copy through user memory.</p>
<ul>
$bench_link
<li><a href="files/">files/</a>: the directory listing (<code>--autoindex</code>)</li>
</ul>
<h2>Files</h2>
<table>
HTML
  for spec in "${sizes[@]}"; do
    name="random-${spec%%:*}.bin"
    echo "<tr><td><a href=\"files/$name\">$name</a></td><td>${spec#*:} bytes</td></tr>"
  done
  cat <<HTML
</table>
<p>Check a download: <code>curl -s http://HOST/files/random-16M.bin | sha256sum</code> against
<a href="files/SHA256SUMS">SHA256SUMS</a>. Ranges, conditional requests and keep-alive work as
in any HTTP/1.1 server: <code>curl -r 0-99 ...</code>.</p>
</body>
</html>
HTML
} >"$root/index.html"
touch "$root/.complete"
