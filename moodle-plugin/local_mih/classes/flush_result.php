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

namespace local_mih;

/**
 * What one flush of the outbox did.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class flush_result {
    /** @var int Events the hub stored (their rows are deleted). */
    public $sent = 0;

    /** @var int Events the hub refused this time. */
    public $rejected = 0;

    /** @var int Refused events that reached the limit of refusals and are now dead. */
    public $dead = 0;

    /** @var int POSTs made. */
    public $posts = 0;

    /** @var bool Whether the flush stopped on a failure that is not an event's fault. */
    public $failed = false;

    /** @var string|null The last failure or refusal, as a line of text. */
    public $lasterror = null;

    /**
     * Describes the flush in one line, for the task's output and the admin page.
     *
     * @return string
     */
    public function summary(): string {
        $text = "sent {$this->sent} events in {$this->posts} requests";
        if ($this->rejected) {
            $text .= ", {$this->rejected} refused ({$this->dead} now dead)";
        }
        if ($this->failed) {
            $text .= '; stopped: ' . $this->lasterror;
        }
        return $text;
    }
}
