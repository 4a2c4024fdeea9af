# Build targets that are not `go build`. The Go side needs none: see README.md.

.PHONY: moodle-plugin php-test release release-check deb image

# dist/local_mih.zip: the Moodle plugin, installable from Moodle's plugin installer.
moodle-plugin:
	scripts/moodle-plugin.sh

# php -l and the plugin's standalone tests.
php-test:
	scripts/php-test.sh

# dist/mih_$(VERSION)_<os>_<arch>.tar.gz (.zip for Windows), dist/local_mih_$(VERSION).zip and
# dist/SHA256SUMS, reproducibly (docs/install.md).
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=1.2.3"; exit 2; }
	go run ./scripts/release -version $(VERSION) -out dist

# Builds every target twice, the second time with an empty build cache, and compares the sums.
release-check:
	@test -n "$(VERSION)" || { echo "usage: make release-check VERSION=1.2.3"; exit 2; }
	go run ./scripts/release -version $(VERSION) -out dist/check-a
	GOCACHE=$$(mktemp -d) go run ./scripts/release -version $(VERSION) -out dist/check-b
	cmp dist/check-a/SHA256SUMS dist/check-b/SHA256SUMS && echo "reproducible: identical SHA256SUMS"

# dist/mih_$(VERSION)_amd64.deb and _arm64.deb: /usr/bin/mih, the systemd unit, /etc/mih (docs/install.md).
deb:
	@test -n "$(VERSION)" || { echo "usage: make deb VERSION=1.2.3"; exit 2; }
	go run ./scripts/release -version $(VERSION) -out dist -archives=false -plugin=false -deb

# dist/mih_$(VERSION)_oci.tar: the OCI image archive, from scratch (docs/install.md).
image:
	@test -n "$(VERSION)" || { echo "usage: make image VERSION=1.2.3"; exit 2; }
	go run ./scripts/release -version $(VERSION) -out dist -archives=false -plugin=false -image
