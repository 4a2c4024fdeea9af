#!/usr/bin/env bash
# Throwaway PostgreSQL for tests and benchmarks.
#
#   scripts/postgres.sh start DIR   start a server with its data in DIR; prints its URL (also in DIR/url)
#   scripts/postgres.sh stop DIR    stop the server started in DIR
#   scripts/postgres.sh url DIR     print the URL of the server started in DIR
#
# The server listens on a free port of 127.0.0.1 only (never 5432), without a Unix socket, with trust
# authentication and fsync off: it is fast and loses data on a crash, which is what tests want.
# FSYNC=on keeps fsync and synchronous_commit on, for benchmarks that should pay for durability.
# It installs Debian's postgresql package when no initdb is found. As root it runs the server as the
# postgres user: it hands DIR to that user and lets it through DIR's parents when they are
# temporary folders (mktemp -d makes them 0700); elsewhere DIR's parents must already let it in.
#
# Typical use:
#   url=$(scripts/postgres.sh start /tmp/pgtest) && MIH_TEST_POSTGRES_URL=$url go test ./store/...
#   scripts/postgres.sh stop /tmp/pgtest
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop|url DIR"; }

# bindir finds the newest installed PostgreSQL, installing it when there is none.
bindir() {
	local initdb
	initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -z $initdb ]]; then
		[[ $(id -u) == 0 ]] || die "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
		echo "postgres.sh: installing postgresql with apt-get" >&2
		# Debian's policy-rc.d keeps apt from starting the packaged cluster; we never use it.
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql >&2; } ||
			die "apt-get install postgresql failed"
		initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
		[[ -n $initdb ]] || die "no /usr/lib/postgresql/*/bin/initdb after installing postgresql"
	fi
	dirname "$initdb"
}

# as runs a command as the postgres user when we are root (the server refuses to run as root).
as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}



running() {
	[[ -f $1/data/postmaster.pid ]] && as "$(bindir)/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

start() {
	local dir=$1 bin port url
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if running "$dir" && [[ -f $dir/url ]]; then
		cat "$dir/url"
		return
	fi
	bin=$(bindir)
	reachable postgres "$dir"
	[[ $(id -u) == 0 ]] && chown -R postgres:postgres "$dir"
	if [[ ! -f $dir/data/PG_VERSION ]]; then
		as "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
			die "initdb failed, see $dir/initdb.log"
		local fsync=off
		[[ ${FSYNC:-off} == on ]] && fsync=on
		cat >>"$dir/data/postgresql.conf" <<-EOF
			# scripts/postgres.sh: a throwaway server for tests
			listen_addresses = '127.0.0.1'
			unix_socket_directories = ''
			fsync = $fsync
			synchronous_commit = $fsync
			full_page_writes = $fsync
			max_connections = 200
			# Vacuum and analyze as soon as a table needs it, so that a benchmark of a few seconds
			# sees the steady state of a queue table rather than its first minute without statistics.
			autovacuum_naptime = 1s
		EOF
	fi
	# Another process may take the port between our check and the server's bind: try again then.
	for _ in 1 2 3 4 5; do
		port=$(free_port 5432)
		if as "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -o "-p $port" start >/dev/null 2>&1; then
			url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			for _ in $(seq 1 100); do
				if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; then
					echo "$url" >"$dir/url"
					echo "$url"
					return
				fi
				sleep 0.1
			done
			as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
			die "server on port $port did not become ready, see $dir/log"
		fi
	done
	die "could not start PostgreSQL, see $dir/log"
}

stop() {
	local dir=$1
	[[ -f $dir/data/PG_VERSION ]] || die "$dir/data is not a PostgreSQL data directory"
	if running "$dir"; then
		as "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	fi
	rm -f "$dir/url"
}

[[ $# == 2 ]] || usage
case $1 in
start) start "$2" ;;
stop) stop "$2" ;;
url) [[ -f $2/url ]] || die "no server started in $2"; cat "$2/url" ;;
*) usage ;;
esac
