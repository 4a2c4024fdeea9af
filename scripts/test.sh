#!/usr/bin/env bash
# The whole test suite: static checks, then every Go test with real servers on 127.0.0.1.
# Installs what it needs from Debian packages when missing (PostgreSQL, RabbitMQ, MariaDB), starts them
# on free ports in a temporary folder, and stops them again whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/mih-test.XXXXXX)
cleanup() {
	scripts/postgres.sh stop "$work/pg" >/dev/null 2>&1 || true
	scripts/rabbitmq.sh stop "$work/rmq" >/dev/null 2>&1 || true
	scripts/mariadb.sh stop "$work/mdb" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== go vet, gofmt, staticcheck"
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...
# deploy/ is a module of its own: its tests check the Compose file and Kubernetes manifests with
# those formats' libraries, which the hub does not depend on.
(cd deploy && go vet ./... && go run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./... && go test -count=1 ./...)

echo "== the repository stands alone: code and docs cite docs/, not documents outside the repository"
# Briefs, anchors and seed documents that were never part of the repository: what the code relies on
# is restated in docs/ (api.md, operations.md, architecture.md, moodle.md, sync.md), and cited there.
outside='PRODUCT( [0-9]|\.md|$)|ANCHORS|shared/|[Ss]eeds/|[Ss]eed ?00[0-9]|(MOODLE|STYLE|DEPENDENCIES)\.md|seed plugin|the seed'"'"'s'
if git rev-parse --git-dir >/dev/null 2>&1; then
	citations=$(git grep -nE "$outside" -- ':!scripts/test.sh' || true)
else
	citations=$(grep -rnE --exclude-dir=.git --exclude=test.sh "$outside" . || true)
fi
if [ -n "$citations" ]; then
	echo "cites documents outside the repository (restate what is needed in docs/ and cite that):"
	echo "$citations"; exit 1
fi

echo "== Moodle plugin: php -l and its standalone tests (installs php-cli when missing)"
scripts/php-test.sh

echo "== PostgreSQL"
MIH_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$work/pg")
export MIH_TEST_POSTGRES_URL

echo "== RabbitMQ"
MIH_TEST_AMQP_URL=$(scripts/rabbitmq.sh start "$work/rmq")
MIH_TEST_RABBITMQ_DIR="$work/rmq"
export MIH_TEST_AMQP_URL MIH_TEST_RABBITMQ_DIR

echo "== MariaDB"
# A Moodle site's database for the log store tailer's tests; they restart it, so it is theirs alone.
MIH_TEST_MYSQL_URL=$(scripts/mariadb.sh start "$work/mdb")
MIH_TEST_MYSQL_DIR="$work/mdb"
export MIH_TEST_MYSQL_URL MIH_TEST_MYSQL_DIR

if ! command -v chromium >/dev/null; then
	echo "== installing chromium for the web UI's browser tests"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 chromium ||
		{ apt-get update -q -o DPkg::Lock::Timeout=300 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 chromium; }
fi

echo "== go test"
# The broker restart test stops the RabbitMQ that other packages' tests, running at the same time,
# connect to; it runs alone afterwards.
env -u MIH_TEST_RABBITMQ_DIR go test -count=1 -timeout 25m ./...
echo "== the broker restart, alone"
go test -count=1 -timeout 5m -run '^TestTransport_BrokerRestart$' ./transport/amqp/

echo "== benchmarks, once each, so that none rots unnoticed (coursesync's takes 30 s even once; its tests cover it)"
go test -count=1 -run '^$' -bench . -benchtime 1x $(go list ./... | grep -v '/coursesync$') >"$work/bench.out" ||
	{ cat "$work/bench.out"; exit 1; }

echo "== fuzz: every parser of outside input, briefly (scripts/fuzz.sh 10m for a real search)"
FUZZ_CACHE=fresh scripts/fuzz.sh 20000x
