# Shell functions shared by postgres.sh, rabbitmq.sh and mariadb.sh; each defines die() first.

# port_free reports whether nobody listens on 127.0.0.1:$1 (a refused connection).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# alive reports whether the pid $1 is a running process.
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# free_port prints a free port of 127.0.0.1 that is none of the ports given as arguments (the
# server's usual port among them, which another program on the machine may be about to take).
free_port() {
	local port
	for _ in $(seq 1 50); do
		if command -v python3 >/dev/null; then
			port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		else
			port=$((20000 + RANDOM % 40000))
		fi
		case " $* " in *" $port "*) continue ;; esac
		if port_free "$port"; then
			echo "$port"
			return
		fi
	done
	die "no free port found"
}

# reachable lets the system user $1 reach dir $2: a parent made by mktemp -d is 0700, so grant it
# search permission (x, not read) when it is a temporary folder of ours; elsewhere, refuse.
reachable() {
	local user=$1 dir=$2 p
	[[ $(id -u) == 0 ]] || return 0
	p=$(dirname "$dir")
	while [[ $p != / ]]; do
		if ! runuser -u "$user" -- test -x "$p"; then
			case $p in
			/tmp/* | "${TMPDIR:-/tmp}"/*) chmod o+x "$p" ;;
			*) die "the $user user cannot reach $p: use a DIR under /tmp" ;;
			esac
		fi
		p=$(dirname "$p")
	done
}
