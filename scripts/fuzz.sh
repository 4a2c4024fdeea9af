#!/usr/bin/env bash
# Runs every fuzz target of the parsers of outside input for a while each: a time (default 3s;
# give a long one for a real search, e.g. `scripts/fuzz.sh 10m`) or a number of inputs
# (`scripts/fuzz.sh 20000x`, what the test suite runs: a fixed amount of work whatever the
# machine's speed and load — with a short time, Go fails a target whose worker processes did not
# start within it, "context deadline exceeded", which a loaded machine and a test binary that
# links SQLite made happen). A failing input is written under the package's testdata/fuzz/ and
# the script stops with its error.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-3s}
targets=(
	"./event FuzzParse"
	". FuzzJSONLimits"
	"./rule FuzzFilter"
	"./template FuzzCompile"
	"./template FuzzRender"
	"./tailer FuzzDecodeOther"
	"./tailer FuzzOtherForms"
	"./transport/soap FuzzParseWSDL"
	"./transport/soap FuzzParseResponse"
	"./transport/amqp FuzzParseTarget"
	"./web FuzzAMQPURL"
	"./web FuzzLocalPath"
	"./event FuzzBackendSyncBody"
	"./webhook FuzzVerify"
	"./moodle FuzzEncodeRoundTrip"
	"./moodle/moodletest FuzzParseForm"
)
# FUZZ_CACHE=fresh starts every target from its committed seeds alone, in a cache of this run's
# own, instead of Go's fuzz cache. Go replays the whole cached corpus before it fuzzes, within the
# time given, and that corpus grows with every run on a machine: a brief run (the test suite's)
# ended up spending its seconds replaying it, or failing with "context deadline exceeded" before
# the replay was over. A long search keeps the cache: it is what the search builds on.
args=()
if [ "${FUZZ_CACHE:-}" = fresh ]; then
	cache=$(mktemp -d /tmp/mih-fuzzcache.XXXXXX)
	trap 'rm -rf "$cache"' EXIT
fi
for t in "${targets[@]}"; do
	set -- $t
	echo "== $2 ($1, $time)"
	[ -n "${cache:-}" ] && args=(-args -test.fuzzcachedir="$cache/$2")
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$time" -parallel "${FUZZ_PARALLEL:-2}" "$1" "${args[@]}" 2>&1 | grep -v '^fuzz: elapsed' || { echo "FAIL: $2"; exit 1; }
done
