#!/usr/bin/env bash
# Builds the installable Moodle plugin: dist/local_mih.zip, with the top folder mih/ that Moodle's
# plugin installer expects for local_mih (Site administration > Plugins > Install plugins), or to
# unzip into <moodle>/local/ as local/mih.
#
#   scripts/moodle-plugin.sh [OUT]    OUT defaults to dist/local_mih.zip
#
# The zip leaves out tests/standalone (developer tests run by scripts/php-test.sh). Entries are
# sorted and dated 2026-01-01, so the same source gives the same zip.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-dist/local_mih.zip}
src=moodle-plugin/local_mih
[[ -f $src/version.php ]] || { echo "moodle-plugin.sh: no $src/version.php" >&2; exit 1; }
command -v python3 >/dev/null || { echo "moodle-plugin.sh: python3 is needed to build the zip" >&2; exit 1; }
mkdir -p "$(dirname "$out")"

python3 - "$src" "$out" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
skip = os.path.join(src, "tests", "standalone")
files = []
for root, dirs, names in os.walk(src):
    if root == skip or root.startswith(skip + os.sep):
        continue
    for n in names:
        files.append(os.path.join(root, n))
tmp = out + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(files):
        name = "mih/" + os.path.relpath(f, src).replace(os.sep, "/")
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with open(f, "rb") as fh:
            z.writestr(info, fh.read())
os.replace(tmp, out)
print(f"{out}: {len(files)} files")
PY
