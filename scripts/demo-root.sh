#!/usr/bin/env bash
# Generates the demo site that `scripts/main.sh` serves: files of several sizes (random bytes,
# with their SHA-256 sums), the report of `zcopy bench --quick`, the README and the docs, a
# favicon, and an index page that says what zcopy is and links them all.
#   bash scripts/demo-root.sh DIR [ZCOPY_BINARY [URL]]
# URL is where the site will be served (default http://127.0.0.1:8080/), for the curl hints; the
# page puts its own address there when it is opened elsewhere.
# The random files are made once and kept between runs, the bench report (a minute or so) until
# the binary changes; the index, the docs and the favicon are rewritten every time.
set -euo pipefail
root=${1:?usage: scripts/demo-root.sh DIR [ZCOPY_BINARY [URL]]}
zcopy=${2:-build/tools/zcopy/zcopy}
url=${3:-http://127.0.0.1:8080/}
project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

sizes=(1K:1024 64K:65536 1M:1048576 16M:16777216 256M:268435456)

if [[ ! -f $root/.complete ]]; then
  rm -rf "$root"
  mkdir -p "$root/files"
  for spec in "${sizes[@]}"; do
    head -c "${spec#*:}" /dev/urandom >"$root/files/random-${spec%%:*}.bin"
  done
  (cd "$root/files" && sha256sum random-*.bin >SHA256SUMS)
  touch "$root/.complete"
fi

# The report again whenever the binary is newer than it (the page is that binary's rendering).
if [[ ! -f $root/bench.html || $zcopy -nt $root/bench.html ]]; then
  rm -f "$root/bench.html" "$root/bench.json" "$root/bench.txt"
  if ! "$zcopy" bench --quick --html "$root/bench.html" --json "$root/bench.json" >"$root/bench.txt" 2>&1; then
    echo "demo-root: zcopy bench --quick failed; the site goes without its report:" >&2
    cat "$root/bench.txt" >&2
    rm -f "$root/bench.html" "$root/bench.json" "$root/bench.txt"
  fi
fi

# The README and the docs, as text (Markdown reads well as it is).
rm -rf "$root/docs"
mkdir -p "$root/docs"
cp "$project/README.md" "$root/README.md"
cp "$project"/docs/*.md "$root/docs/"

# favicon.ico: a 32x32 icon (two arrows on blue, drawn here), so no page logs a 404 for it.
python3 - "$root/favicon.ico" <<'PY'
import struct, sys
n = 32
rows = []
for y in range(n):
    row = []
    for x in range(n):
        inside = 2 <= x < n - 2 and 2 <= y < n - 2
        # Two right-pointing arrows: shafts at rows 10-12 and 19-21, heads as triangles.
        arrow = False
        for top in (8, 17):
            mid = top + 3
            if 6 <= x < 20 and top + 2 <= y <= top + 4:
                arrow = True
            if 18 <= x < 26 and abs(y - mid) <= 25 - x:
                arrow = True
        if not inside:
            row.append((0, 0, 0, 0))
        elif arrow:
            row.append((255, 255, 255, 255))
        else:
            row.append((173, 92, 11, 255))  # BGRA: #0b5cad
    rows.append(row)
pixels = b"".join(bytes(p) for row in reversed(rows) for p in row)  # bottom-up rows
mask = bytes(n * n // 8)
header = struct.pack("<IiiHHIIiiII", 40, n, 2 * n, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
image = header + pixels + mask
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<HHH", 0, 1, 1))
    f.write(struct.pack("<BBBBHHII", n, n, 0, 0, 1, 32, len(image), 6 + 16))
    f.write(image)
PY

human() {
  numfmt --to=iec-i --suffix=B --format='%.1f' "$1" | sed -E 's/\.0([A-Za-z])/\1/; s/([0-9])([KMG])iB/\1 \2iB/'
}

doc_links=""
for doc in "$root"/docs/*.md; do
  name=$(basename "$doc")
  doc_links+="<a href=\"docs/$name\">${name%.md}</a> "
done

bench_item=""
if [[ -f $root/bench.html ]]; then
  bench_item='<li><a href="bench.html">The bench report</a>: every copy method measured on this
  machine, with the textbook count of copies and context switches beside what was measured
  (<a href="bench.txt">as a table</a>, <a href="bench.json">as JSON</a>).</li>'
fi

{
  cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>zcopy: moving bytes on Linux without needless copies</title>
<link rel="icon" href="favicon.ico">
<style>
:root{color-scheme:light dark}
body{font:16px/1.55 system-ui,sans-serif;max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.2rem;margin-top:2rem}
code{background:#8882;padding:0 .25em;border-radius:3px;overflow-wrap:anywhere}
pre{background:#8881;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere}
pre code{background:none;padding:0}
dt{font-weight:600;margin-top:.5rem}dd{margin-left:1rem}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;text-align:left}
td:nth-child(2),th:nth-child(2){text-align:right;white-space:nowrap}tbody tr:nth-child(odd){background:#8881}
</style></head>
<body>
<h1>zcopy</h1>
<p><strong>zcopy</strong> moves bytes on Linux without needless CPU copies. It is a C++ library,
<code>libzcopy</code>, whose one <code>transfer()</code> call picks the cheapest way the kernel
offers between two descriptors (<code>copy_file_range</code> and reflinks inside a filesystem,
<code>sendfile</code> from a file to a socket, <code>splice</code> through a pipe between any two,
io_uring, <code>MSG_ZEROCOPY</code>, <code>O_DIRECT</code>) and falls back correctly; and one
command-line tool built on it:</p>
<dl>
<dt>zcopy serve</dt><dd>an HTTP/1.1 static file server, this one: file bodies leave with
<code>sendfile(2)</code>, from the page cache to the socket, never through user memory.</dd>
<dt>zcopy cp</dt><dd>copies files and trees: reflinks, <code>copy_file_range</code>, sparse files,
metadata; a failed copy never leaves a truncated file in place of a good one.</dd>
<dt>zcopy get</dt><dd>downloads over HTTP: resumable, parallel byte ranges (<code>-x</code>),
whole directory trees (<code>-r</code>), spliced from the socket into the file.</dd>
<dt>zcopy relay</dt><dd>a TCP relay that splices between the two sockets.</dd>
<dt>zcopy bench</dt><dd>measures every method on this machine: throughput, CPU, system calls.</dd>
<dt>zcopy probe</dt><dd>says which mechanisms work here, and why not where they do not.</dd>
<dt>zcopy gpu</dt><dd>loads a file into GPU memory (with the optional CUDA build).</dd>
</dl>
<p>Read the <a href="README.md">README</a> (quick start, every command) and the docs: $doc_links</p>
<h2>On this site</h2>
<ul>
$bench_item
<li><a href="files/">files/</a>: a directory listing (<code>zcopy serve --autoindex</code>), sortable
by name, size and date.</li>
</ul>
<h2>Files to download</h2>
<table>
<thead><tr><th>File</th><th>Size</th></tr></thead>
<tbody>
HTML
  for spec in "${sizes[@]}"; do
    name="random-${spec%%:*}.bin"
    bytes=${spec#*:}
    echo "<tr><td><a href=\"files/$name\">$name</a></td><td title=\"$bytes bytes\">$(human "$bytes")</td></tr>"
  done
  cat <<HTML
</tbody>
</table>
<p>Each holds random bytes. Check a download against <a href="files/SHA256SUMS">SHA256SUMS</a>:</p>
<pre><code class="cmd">curl -s ${url}files/random-16M.bin | sha256sum</code>
<code class="cmd">zcopy get -x 4 ${url}files/random-256M.bin</code></pre>
<p>Ranges, conditional requests and keep-alive work as in any HTTP/1.1 server:
<code class="cmd">curl -r 0-99 ${url}files/random-1K.bin | xxd</code></p>
<script>
// The commands above name the address this page was generated for; use the one it came from.
for (const c of document.querySelectorAll('code.cmd'))
  c.textContent = c.textContent.replaceAll('${url}', location.origin + '/');
</script>
</body>
</html>
HTML
} >"$root/index.html"
