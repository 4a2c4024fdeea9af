#!/usr/bin/env bash
# Throwaway MariaDB for tests and benchmarks (a Moodle site's database for the log store tailer).
#
#   scripts/mariadb.sh start DIR     start a server with its data in DIR; prints its URL (also in DIR/url)
#   scripts/mariadb.sh stop DIR      stop the server started in DIR
#   scripts/mariadb.sh restart DIR   stop it, then start it again on the same port with the same data
#   scripts/mariadb.sh url DIR       print the URL of the server started in DIR
#
# The server listens on a free port of 127.0.0.1 only (never 3306), with its Unix socket in DIR,
# and durability relaxed (no doublewrite, log flushed once a second): fast, and it may lose the
# last second on a crash, which is what tests want. The URL is
# mysql://mihtest:mihtest@127.0.0.1:PORT/mysql for a user with every privilege, from which tests
# create their own databases and users.
# It installs Debian's mariadb-server package when no mariadbd is found. As root it runs the server
# as the mysql user: it hands DIR to that user and lets it through DIR's parents when they are
# temporary folders (mktemp -d makes them 0700); elsewhere DIR's parents must already let it in.
# The server is stopped by its pid, never by name.
#
# Typical use:
#   url=$(scripts/mariadb.sh start /tmp/mdbtest) && MIH_TEST_MYSQL_URL=$url MIH_TEST_MYSQL_DIR=/tmp/mdbtest go test ./logstore/
#   scripts/mariadb.sh stop /tmp/mdbtest
set -euo pipefail

die() { echo "mariadb.sh: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop|restart|url DIR"; }

READY_TIMEOUT=${MARIADB_READY_TIMEOUT:-60}

# install makes sure mariadbd and mariadb-install-db are there, installing them when we can.
install_mariadb() {
	if [[ -x /usr/sbin/mariadbd ]] || command -v mariadbd >/dev/null 2>&1; then
		command -v mariadb-install-db >/dev/null 2>&1 && return
	fi
	[[ $(id -u) == 0 ]] || die "MariaDB is not installed and installing it needs root (apt-get install mariadb-server)"
	echo "mariadb.sh: installing mariadb-server with apt-get" >&2
	# Debian's policy-rc.d keeps apt from starting the packaged server; we never use it.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 mariadb-server >&2 ||
		{ apt-get update -q -o DPkg::Lock::Timeout=300 >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 mariadb-server >&2; } ||
		die "apt-get install mariadb-server failed"
	[[ -x /usr/sbin/mariadbd ]] || die "no /usr/sbin/mariadbd after installing mariadb-server"
}

mariadbd_bin() {
	if [[ -x /usr/sbin/mariadbd ]]; then echo /usr/sbin/mariadbd; else command -v mariadbd; fi
}

# as runs a command as the mysql user when we are root.
as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u mysql -- "$@"
	else
		"$@"
	fi
}





running() { [[ -f $1/mariadb.pid ]] && alive "$(<"$1/mariadb.pid")"; }

# client runs SQL over the server's socket as root (the unix_socket or empty-password root of a
# fresh data directory).
client() {
	local dir=$1
	shift
	as mariadb --no-defaults --protocol=socket --socket="$dir/mysqld.sock" -uroot "$@"
}

launch() {
	local dir=$1 port pid
	port=$(<"$dir/port")
	rm -f "$dir/url" "$dir/mariadb.pid"
	# setsid: the server outlives this script and gets no signal meant for the caller's terminal.
	as setsid "$(mariadbd_bin)" --no-defaults \
		--datadir="$dir/data" --socket="$dir/mysqld.sock" --pid-file="$dir/mariadb.pid" \
		--log-error="$dir/error.log" --bind-address=127.0.0.1 --port="$port" \
		--skip-name-resolve --skip-log-bin --performance-schema=OFF --max-connections=200 \
		--innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 \
		--innodb-use-native-aio=0 --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
		</dev/null >>"$dir/server.out" 2>&1 &
	local deadline=$((SECONDS + READY_TIMEOUT))
	while ((SECONDS < deadline)); do
		if [[ -f $dir/mariadb.pid ]] && ! port_free "$port"; then
			pid=$(<"$dir/mariadb.pid")
			if alive "$pid"; then
				return 0
			fi
		fi
		if grep -q "\[ERROR\] Aborting" "$dir/error.log" 2>/dev/null; then
			tail -n 20 "$dir/error.log" >&2 || true
			die "the server exited while starting, see $dir/error.log"
		fi
		sleep 0.1
	done
	die "the server did not open port $port within ${READY_TIMEOUT}s, see $dir/error.log"
}

start() {
	local dir=$1 url
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if running "$dir" && [[ -f $dir/url ]]; then
		cat "$dir/url"
		return
	fi
	install_mariadb
	reachable mysql "$dir"
	[[ $(id -u) == 0 ]] && chown mysql:mysql "$dir"
	local fresh=0
	if [[ ! -d $dir/data/mysql ]]; then
		as mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
			--skip-test-db >"$dir/install.log" 2>&1 || die "mariadb-install-db failed, see $dir/install.log"
		fresh=1
	fi
	# A stopped server keeps its port when it is still free, so that clients reconnect to the
	# URL they have.
	if [[ ! -f $dir/port ]] || ! port_free "$(<"$dir/port")"; then
		free_port 3306 >"$dir/port"
	fi
	[[ $(id -u) == 0 ]] && chown -R mysql:mysql "$dir"
	launch "$dir"
	if ((fresh)); then
		client "$dir" -e "CREATE USER 'mihtest'@'127.0.0.1' IDENTIFIED BY 'mihtest';
			GRANT ALL PRIVILEGES ON *.* TO 'mihtest'@'127.0.0.1' WITH GRANT OPTION;" ||
			die "could not create the test user"
	fi
	url="mysql://mihtest:mihtest@127.0.0.1:$(<"$dir/port")/mysql"
	echo "$url" >"$dir/url"
	echo "$url"
}

stop() {
	local dir=$1 pid
	[[ -d $dir/data/mysql ]] || die "$dir/data is not a MariaDB data directory"
	if running "$dir"; then
		pid=$(<"$dir/mariadb.pid")
		# TERM is mariadbd's clean shutdown; KILL only if it hangs.
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$dir/url"
}

restart() {
	local dir=$1 port
	[[ -d $1/data/mysql ]] || die "$1/data is not a MariaDB data directory"
	dir=$(cd "$dir" && pwd)
	stop "$dir"
	port=$(<"$dir/port")
	for _ in $(seq 1 100); do
		port_free "$port" && break
		sleep 0.1
	done
	start "$dir"
}

[[ $# == 2 ]] || usage
case $1 in
start) start "$2" ;;
stop) stop "$2" ;;
restart) restart "$2" ;;
url) [[ -f $2/url ]] || die "no server started in $2"; cat "$2/url" ;;
*) usage ;;
esac
