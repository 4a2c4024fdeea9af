#!/usr/bin/env bash
# Throwaway RabbitMQ broker for tests and benchmarks.
#
#   scripts/rabbitmq.sh start DIR     start a broker with its state in DIR; prints its URL (also in DIR/url)
#   scripts/rabbitmq.sh stop DIR      stop the broker started in DIR (and its own epmd)
#   scripts/rabbitmq.sh restart DIR   stop it, then start it again on the same ports with the same
#                                     node name and data, so durable queues and persistent messages survive
#   scripts/rabbitmq.sh url DIR       print the URL of the broker started in DIR
#
# The broker listens on a free port of 127.0.0.1 only (never 5672 unless it is free and drawn), with no
# plugins, and runs as a node of its own (rabbit-mihtest-<pid>@localhost) with:
#   - HOME=DIR, so its Erlang cookie is DIR/.erlang.cookie and no other node's cookie is touched;
#   - its own epmd on a free port of 127.0.0.1 (ERL_EPMD_PORT), so it neither clashes with nor registers
#     in another epmd of the machine; stop ends that epmd (by its port) once the node is down;
#   - a free distribution port (RABBITMQ_DIST_PORT) instead of AMQP port + 20000;
#   - the CLI tools' distribution ports drawn free for each call.
# The default user guest/guest may log in from loopback, so the URL is amqp://guest:guest@127.0.0.1:PORT/.
# It installs Debian's rabbitmq-server package when /usr/lib/rabbitmq/bin/rabbitmq-server is missing
# (Debian's policy-rc.d keeps apt from starting the packaged service; we never use it).
# Processes are stopped by pid or by node name, never by process name.
#
# Typical use:
#   url=$(scripts/rabbitmq.sh start /tmp/rmqtest) && MIH_TEST_AMQP_URL=$url MIH_TEST_RABBITMQ_DIR=/tmp/rmqtest go test ./transport/amqp/
#   scripts/rabbitmq.sh stop /tmp/rmqtest
set -euo pipefail

die() { echo "rabbitmq.sh: $*" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start|stop|restart|url DIR"; }

SBIN=/usr/lib/rabbitmq/bin
READY_TIMEOUT=${RABBITMQ_READY_TIMEOUT:-60}

install_rabbitmq() {
	[[ -x $SBIN/rabbitmq-server ]] && return
	[[ $(id -u) == 0 ]] || die "RabbitMQ is not installed and installing it needs root (apt-get install rabbitmq-server)"
	echo "rabbitmq.sh: installing rabbitmq-server with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 rabbitmq-server >&2 ||
		{ apt-get update -q -o DPkg::Lock::Timeout=300 >&2 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 rabbitmq-server >&2; } ||
		die "apt-get install rabbitmq-server failed"
	[[ -x $SBIN/rabbitmq-server ]] || die "no $SBIN/rabbitmq-server after installing rabbitmq-server"
}



# setenv exports what the server and the CLI tools of the broker in $dir need. It reads the
# node name and ports saved in $dir at the first start.
setenv() {
	local dir=$1
	export HOME=$dir
	export RABBITMQ_NODENAME=$(<"$dir/nodename")
	export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
	export RABBITMQ_NODE_PORT=$(<"$dir/port")
	export RABBITMQ_DIST_PORT=$(<"$dir/dist_port")
	export ERL_EPMD_PORT=$(<"$dir/epmd_port")
	export ERL_EPMD_ADDRESS=127.0.0.1
	export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
	export RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf
	export RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config
	export RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
	export RABBITMQ_MNESIA_BASE=$dir/mnesia
	export RABBITMQ_LOG_BASE=$dir/log
	export RABBITMQ_PID_FILE=$dir/rabbit.pid
	# The distribution listener on loopback too (Erlang binds it to every address by default).
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# ctl runs a CLI tool (rabbitmqctl, rabbitmq-diagnostics) against the node of $dir, with its own
# distribution port drawn free so that it clashes with no other CLI run.
ctl() {
	local dir=$1 tool=$2 p
	shift 2
	p=$(free_port 5672 4369 25672 "$(<"$dir/port")" "$(<"$dir/dist_port")" "$(<"$dir/epmd_port")")
	RABBITMQ_CTL_DIST_PORT_MIN=$p RABBITMQ_CTL_DIST_PORT_MAX=$p \
		timeout 60 "$SBIN/$tool" -n "$RABBITMQ_NODENAME" "$@"
}


# running reports whether the broker of $dir is up (its beam process, by the pid it wrote).
running() {
	local dir=$1
	[[ -f $dir/rabbit.pid ]] && alive "$(<"$dir/rabbit.pid")"
}

launch() {
	local dir=$1 pid
	setenv "$dir"
	rm -f "$dir/rabbit.pid" "$dir/url"
	# setsid: the broker outlives this script and gets no signal meant for the caller's terminal.
	setsid "$SBIN/rabbitmq-server" >>"$dir/server.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/server.pid"

	local url="amqp://guest:guest@127.0.0.1:$RABBITMQ_NODE_PORT/"
	local deadline=$((SECONDS + READY_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! alive "$pid"; then
			tail -n 30 "$dir/server.out" >&2 || true
			die "the broker exited while starting, see $dir/server.out and $dir/log"
		fi
		# The AMQP listener opens last, once the broker has booted.
		if ! port_free "$RABBITMQ_NODE_PORT"; then
			echo "$url" >"$dir/url"
			echo "$url"
			return
		fi
		sleep 0.2
	done
	stop "$dir" >/dev/null 2>&1 || true
	die "the broker did not open port $RABBITMQ_NODE_PORT within ${READY_TIMEOUT}s, see $dir/server.out and $dir/log"
}

start() {
	local dir=$1
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if running "$dir" && [[ -f $dir/url ]]; then
		cat "$dir/url"
		return
	fi
	install_rabbitmq
	# A new folder gets a node name; a folder whose broker was stopped keeps its node name (and so
	# its data) but gets new ports when one of its old ones has been taken since.
	[[ -f $dir/nodename ]] || echo "rabbit-mihtest-$$@localhost" >"$dir/nodename"
	if [[ ! -f $dir/port ]] || ! port_free "$(<"$dir/port")" || ! port_free "$(<"$dir/dist_port")" ||
		! port_free "$(<"$dir/epmd_port")"; then
		local port dist epmd
		port=$(free_port 5672 4369 25672)
		dist=$(free_port 5672 4369 25672 "$port")
		epmd=$(free_port 5672 4369 25672 "$port" "$dist")
		echo "$port" >"$dir/port"
		echo "$dist" >"$dir/dist_port"
		echo "$epmd" >"$dir/epmd_port"
	fi
	: >"$dir/rabbitmq-env.conf"
	cat >"$dir/rabbitmq.conf" <<-EOF
		# scripts/rabbitmq.sh: a throwaway broker for tests, loopback only
		listeners.tcp.default = 127.0.0.1:$(<"$dir/port")
		loopback_users.guest = true
		log.file.level = warning
		log.console = false
	EOF
	echo '[].' >"$dir/enabled_plugins"
	mkdir -p "$dir/mnesia" "$dir/log"
	launch "$dir"
}

stop() {
	local dir=$1
	[[ -f $dir/nodename ]] || die "$dir holds no broker started by this script"
	dir=$(cd "$dir" && pwd)
	setenv "$dir"
	local beam="" wrapper=""
	[[ -f $dir/rabbit.pid ]] && beam=$(<"$dir/rabbit.pid")
	[[ -f $dir/server.pid ]] && wrapper=$(<"$dir/server.pid")
	if alive "$beam" || alive "$wrapper"; then
		# A clean stop by node name; it waits for the beam process (given by its pid file) to exit.
		if alive "$beam"; then
			ctl "$dir" rabbitmqctl -q stop "$dir/rabbit.pid" >/dev/null 2>&1 || true
		fi
		# Then by pid, if it still runs: TERM to the wrapper script (which stops the broker), KILL last.
		for sig in TERM KILL; do
			alive "$beam" || alive "$wrapper" || break
			[[ $sig == TERM ]] && alive "$wrapper" && kill -TERM "$wrapper" 2>/dev/null || true
			[[ $sig == KILL ]] && { kill -KILL "$beam" "$wrapper" 2>/dev/null || true; }
			for _ in $(seq 1 100); do
				alive "$beam" || alive "$wrapper" || break
				sleep 0.1
			done
		done
	fi
	# The node started its own epmd on our port: end it (it has no names left once the node is down).
	if ! port_free "$ERL_EPMD_PORT"; then
		epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
	fi
	rm -f "$dir/url" "$dir/rabbit.pid" "$dir/server.pid"
}

restart() {
	local dir=$1
	[[ -f $dir/nodename ]] || die "$dir holds no broker started by this script"
	dir=$(cd "$dir" && pwd)
	stop "$dir"
	local port
	port=$(<"$dir/port")
	# The same port, so that clients reconnect to the URL they have; wait until it is released.
	for _ in $(seq 1 100); do
		port_free "$port" && break
		sleep 0.1
	done
	launch "$dir"
}

[[ $# == 2 ]] || usage
case $1 in
start) start "$2" ;;
stop) stop "$2" ;;
restart) restart "$2" ;;
url) [[ -f $2/url ]] || die "no broker started in $2"; cat "$2/url" ;;
*) usage ;;
esac
