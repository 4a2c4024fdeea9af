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
 * Settings of local_mih, and its outbox page.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

if ($hassiteconfig) {
    $ADMIN->add('localplugins', new admin_category('local_mih_category', new lang_string('pluginname', 'local_mih')));

    $settings = new admin_settingpage('local_mih', new lang_string('settings', 'local_mih'));
    if ($ADMIN->fulltree) {
        $settings->add(new admin_setting_configtext(
            'local_mih/hub_url',
            new lang_string('hub_url', 'local_mih'),
            new lang_string('hub_url_desc', 'local_mih'),
            '',
            PARAM_URL,
            60
        ));
        $settings->add(new admin_setting_configtext(
            'local_mih/site',
            new lang_string('site', 'local_mih'),
            new lang_string('site_desc', 'local_mih'),
            '',
            PARAM_ALPHANUMEXT,
            30
        ));
        // Encrypted at rest with the site's key, and never written back into the page: the form only
        // says whether a value is set. A plain value set with admin/cli/cfg.php or config.php works too.
        $settings->add(new admin_setting_encryptedpassword(
            'local_mih/secret',
            new lang_string('secret', 'local_mih'),
            new lang_string('secret_desc', 'local_mih')
        ));
        $settings->add(new admin_setting_encryptedpassword(
            'local_mih/token',
            new lang_string('token', 'local_mih'),
            new lang_string('token_desc', 'local_mih')
        ));
        $settings->add(new admin_setting_configtextarea(
            'local_mih/include',
            new lang_string('include', 'local_mih'),
            new lang_string('include_desc', 'local_mih'),
            '',
            PARAM_RAW_TRIMMED
        ));
        $settings->add(new admin_setting_configtextarea(
            'local_mih/exclude',
            new lang_string('exclude', 'local_mih'),
            new lang_string('exclude_desc', 'local_mih'),
            '',
            PARAM_RAW_TRIMMED
        ));
        $settings->add(new admin_setting_configtext(
            'local_mih/timeout',
            new lang_string('timeout', 'local_mih'),
            new lang_string('timeout_desc', 'local_mih'),
            '2',
            PARAM_INT,
            5
        ));
    }
    $ADMIN->add('local_mih_category', $settings);

    $ADMIN->add('local_mih_category', new admin_externalpage(
        'local_mih_outbox',
        new lang_string('outbox', 'local_mih'),
        new moodle_url('/local/mih/index.php'),
        'moodle/site:config'
    ));
}
