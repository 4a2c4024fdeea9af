#!/usr/bin/env bash
# Runs every fuzz target of the parsers of outside input for a while each (default 3s: what CI
# runs; give a longer time for a real search, e.g. `scripts/fuzz.sh 10m`). A failing input is
# written under the package's testdata/fuzz/ and the script stops with its error.
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
for t in "${targets[@]}"; do
	set -- $t
	echo "== $2 ($1, $time)"
	go test -run '^$' -fuzz "^$2\$" -fuzztime "$time" -parallel "${FUZZ_PARALLEL:-2}" "$1" 2>&1 | grep -v '^fuzz: elapsed' || { echo "FAIL: $2"; exit 1; }
done
