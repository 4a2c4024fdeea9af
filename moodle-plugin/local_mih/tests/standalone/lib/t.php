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

namespace local_mih_test;

/**
 * The assertions of the standalone tests.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class t {
    /** @var string[] Failures of the running test. */
    public static $failures = [];

    /** @var int Assertions made by the running test. */
    public static $assertions = 0;

    /** @var string[] Messages passed to debugging() by the running test. */
    public static $debugging = [];

    /**
     * Checks that two values are identical.
     *
     * @param mixed $got What the code gave.
     * @param mixed $want What it should give.
     * @param string $what What is compared.
     */
    public static function eq($got, $want, string $what = ''): void {
        self::$assertions++;
        if ($got !== $want) {
            $trace = debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS, 1)[0];
            self::$failures[] = ($what !== '' ? $what . ': ' : '') . 'got ' . self::show($got) . ', want ' . self::show($want) .
                ' (line ' . $trace['line'] . ')';
        }
    }

    /**
     * Checks that a condition holds.
     *
     * @param bool $cond The condition.
     * @param string $what What it means.
     */
    public static function ok(bool $cond, string $what): void {
        self::$assertions++;
        if (!$cond) {
            $trace = debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS, 1)[0];
            self::$failures[] = $what . ' (line ' . $trace['line'] . ')';
        }
    }

    /**
     * Checks that a function throws an exception of a class.
     *
     * @param callable $fn The function.
     * @param string $class The exception's class.
     * @return \Throwable|null What it threw.
     */
    public static function throws(callable $fn, string $class): ?\Throwable {
        self::$assertions++;
        try {
            $fn();
        } catch (\Throwable $e) {
            if (!($e instanceof $class)) {
                self::$failures[] = 'threw ' . get_class($e) . ', want ' . $class;
            }
            return $e;
        }
        self::$failures[] = 'did not throw, want ' . $class;
        return null;
    }

    /**
     * A value as text, for failure messages.
     *
     * @param mixed $v The value.
     * @return string
     */
    private static function show($v): string {
        $text = var_export($v, true);
        return strlen($text) > 300 ? substr($text, 0, 300) . '…' : $text;
    }
}
