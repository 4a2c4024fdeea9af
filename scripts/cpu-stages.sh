#!/usr/bin/env bash
# Splits a CPU profile of a hub (mih bench --hub-process --cpuprofile FILE) into the stages of the
# pipeline, and turns the shares into µs per delivered event when given the run's figure.
#
#   scripts/cpu-stages.sh PROFILE [US_PER_EVENT]
#
# Every sample goes to the first stage (in the order below) whose pattern matches a function
# anywhere on its stack, so the stages add up to the whole profile. Garbage collection is its own
# stage: the allocations behind it are spread over every other one.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 PROFILE [US_PER_EVENT]" >&2; exit 2; }
go tool pprof -traces "$1" 2>/dev/null | awk -v per="${2:-0}" '
BEGIN {
	n = 0
	stage[++n] = "logging (slog: access log, worker log)";      pat[n] = "log/slog\\.|logResult"
	stage[++n] = "metrics (Prometheus)";                          pat[n] = "prometheus|Metrics\\)\\.observe|addInflight"
	stage[++n] = "completion: attempt rows";                      pat[n] = "store\\.\\(\\*Store\\)\\.insertAttempts"
	stage[++n] = "completion: request-log rows";                  pat[n] = "store\\.\\(\\*Store\\)\\.insertLogs"
	stage[++n] = "completion: commit (WAL write, fsync)";         pat[n] = "Store\\)\\.[cC]omplete|Tx\\)\\.Commit"
	stage[++n] = "completion: state update";                      pat[n] = "store\\.\\(\\*Store\\)\\.[cC]omplete"
	stage[++n] = "ingest: store (events, deliveries, commit)";    pat[n] = "store\\.\\(\\*Store\\)\\.CreateEvents"
	stage[++n] = "ingest: rules and render";                      pat[n] = "event\\.\\(\\*Ingester\\)\\.plan"
	stage[++n] = "ingest: HTTP, JSON decode, auth";               pat[n] = "net/http\\.\\(\\*conn\\)\\.serve"
	stage[++n] = "claim (alone, or with a flush)";                pat[n] = "delivery\\.\\(\\*loop\\)\\.claim|store\\.\\(\\*Store\\)\\.claim"
	stage[++n] = "HTTP send (build, client, connection I/O)";     pat[n] = "delivery\\.\\(\\*Worker\\)\\.send|net/http\\.\\(\\*persistConn\\)|net/http\\.\\(\\*Transport\\)"
	stage[++n] = "worker loop, heartbeat, other store calls";     pat[n] = "delivery\\.|store\\."
	stage[++n] = "garbage collection";                            pat[n] = "runtime\\.gcBgMarkWorker|runtime\\.bgsweep|runtime\\.bgscavenge|runtime\\.gcStart|runtime\\.GC"
	stage[++n] = "other (scheduler, timers, idle network)";      pat[n] = "."
}
function flush(   i, s) {
	if (stack == "") return
	for (i = 1; i <= n; i++) {
		if (i == 5) { if (stack ~ /Store\)\.[cC]omplete/ && stack ~ /Tx\)\.Commit/) { sum[i] += v; break } else continue }
		# A claim made in the transaction of a flush counts as claim, not as completion.
		if (i == 6 && stack ~ /Store\)\.claim/) continue
		if (stack ~ pat[i]) { sum[i] += v; break }
	}
	total += v
	stack = ""
}
function val(s) {
	if (s ~ /ms$/) { sub(/ms$/, "", s); return s / 1000 }
	if (s ~ /us$/) { sub(/us$/, "", s); return s / 1e6 }
	if (s ~ /s$/) { sub(/s$/, "", s); return s + 0 }
	return 0
}
/^-+\+-+$/ { flush(); next }
/^ +[0-9.]+(ms|us|s) / { flush(); v = val($1); stack = $2; next }
/^ +[^ ]/ { if (v > 0) stack = stack " " $1; next }
END {
	flush()
	printf "%-46s %7s %6s", "stage", "CPU", "share"
	if (per > 0) printf " %12s", "µs/event"
	printf "\n"
	for (i = 1; i <= n; i++) {
		printf "%-46s %6.2fs %5.1f%%", stage[i], sum[i], 100 * sum[i] / total
		if (per > 0) printf " %12.1f", per * sum[i] / total
		printf "\n"
	}
	printf "%-46s %6.2fs %5.1f%%", "total", total, 100
	if (per > 0) printf " %12.1f", per
	printf "\n"
}'
