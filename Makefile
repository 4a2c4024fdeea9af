# Build targets that are not `go build`. The Go side needs none: see README.md.

.PHONY: moodle-plugin php-test

# dist/local_mih.zip: the Moodle plugin, installable from Moodle's plugin installer.
moodle-plugin:
	scripts/moodle-plugin.sh

# php -l and the plugin's standalone tests.
php-test:
	scripts/php-test.sh
