<?php
// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.

/**
 * Runs the plugin's standalone tests: the parts of the plugin that need no Moodle install (signing,
 * event filters, the gateway response and fluent builder, the outbox's batching rules), with the
 * HTTP transport and the outbox table replaced by in-memory doubles.
 *
 * Usage: php tests/standalone/run.php [filter]. Prints one line per failure and ends with
 * "N passed, N failed"; exits 1 when any test failed.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

// phpcs:disable moodle.Files.MoodleInternal.MoodleInternalGlobalState
// phpcs:disable moodle.Files.RequireLogin.Missing

if (PHP_SAPI !== 'cli') {
    exit(1);
}

define('MOODLE_INTERNAL', true);
define('CLI_SCRIPT', true);
define('DEBUG_DEVELOPER', 32767);
define('DEBUG_NORMAL', 15);

// A warning or notice is a failure of the test that caused it.
error_reporting(E_ALL);
set_error_handler(function (int $severity, string $message, string $file, int $line): bool {
    throw new \ErrorException($message, 0, $severity, $file, $line);
});

/**
 * Stands in for Moodle's debugging(): records the message for the tests to inspect.
 *
 * @param string $message The message.
 * @param int $level The level.
 * @return bool
 */
function debugging($message = '', $level = DEBUG_NORMAL) {
    \local_mih_test\t::$debugging[] = $message;
    return true;
}

spl_autoload_register(function (string $class): void {
    $plugin = dirname(__DIR__, 2);
    if (strpos($class, 'local_mih_test\\') === 0) {
        $file = __DIR__ . '/lib/' . substr($class, strlen('local_mih_test\\')) . '.php';
    } else if (strpos($class, 'local_mih\\') === 0) {
        $file = $plugin . '/classes/' . str_replace('\\', '/', substr($class, strlen('local_mih\\'))) . '.php';
    } else {
        return;
    }
    if (is_file($file)) {
        require($file);
    }
});

$filter = $argv[1] ?? '';
$passed = 0;
$failed = 0;
foreach (glob(__DIR__ . '/cases/*.php') as $file) {
    $cases = require($file);
    foreach ($cases as $name => $case) {
        $name = basename($file, '.php') . ': ' . $name;
        if ($filter !== '' && strpos($name, $filter) === false) {
            continue;
        }
        \local_mih_test\t::$failures = [];
        \local_mih_test\t::$debugging = [];
        try {
            $case();
        } catch (\Throwable $e) {
            \local_mih_test\t::$failures[] = 'threw ' . get_class($e) . ': ' . $e->getMessage() . ' at ' .
                basename($e->getFile()) . ':' . $e->getLine();
        }
        if (\local_mih_test\t::$failures) {
            $failed++;
            foreach (\local_mih_test\t::$failures as $failure) {
                echo "FAIL {$name}: {$failure}\n";
            }
        } else if (\local_mih_test\t::$assertions === 0) {
            $failed++;
            echo "FAIL {$name}: checked nothing\n";
        } else {
            $passed++;
        }
        \local_mih_test\t::$assertions = 0;
    }
}
echo "{$passed} passed, {$failed} failed\n";
exit($failed > 0 || $passed === 0 ? 1 : 0);
