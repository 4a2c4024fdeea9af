#!/usr/bin/env bash
# The Moodle plugin's checks that need no Moodle install:
#   - php -l on every PHP file of moodle-plugin/local_mih;
#   - the plugin's standalone tests (moodle-plugin/local_mih/tests/standalone/run.php): signing,
#     event filters, the gateway response and fluent builder, and the outbox's batching rules over
#     in-memory doubles of the HTTP transport and the outbox table.
# The Go side (webhook.Verify against the plugin's own signer) runs in `go test ./webhook/`.
#
#   scripts/php-test.sh            everything
#   scripts/php-test.sh outbox     only the tests whose name contains "outbox"
#
# Installs php-cli and php-mbstring from Debian when missing (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "php-test.sh: $*" >&2; exit 1; }

install() {
	[[ $(id -u) == 0 ]] || die "$* missing and installing it needs root (apt-get install $*)"
	echo "php-test.sh: installing $* with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 "$@" >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 "$@" >&2; } ||
		die "apt-get install $* failed"
}

command -v php >/dev/null || install php-cli php-mbstring
php -r 'exit(extension_loaded("mbstring") ? 0 : 1);' || install php-mbstring

plugin=moodle-plugin/local_mih
echo "== php -l ($(php -r 'echo PHP_VERSION;'))"
failed=0
while IFS= read -r -d '' f; do
	out=$(php -l "$f" 2>&1) || { echo "$out"; failed=1; }
done < <(find "$plugin" -name '*.php' -print0 | sort -z)
[[ $failed == 0 ]] || die "php -l found errors"

echo "== plugin tests"
php "$plugin/tests/standalone/run.php" "$@"
