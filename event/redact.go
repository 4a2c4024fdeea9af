package event

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/mihhub/mih"
)

// configLogCreated is the event Moodle logs when an admin changes a setting; its other carries
// the setting's old and new value in clear, passwords and tokens included.
const configLogCreated = `\core\event\config_log_created`

// secretSettingWords mark a setting whose value is a secret. Moodle has no flag for it, so the
// name decides, as its own admin_setting_configpasswordunmask settings are named.
var secretSettingWords = []string{"pass", "secret", "token", "key", "salt", "pwd", "_pw", "credential"}

// redactSecrets masks the values of secret settings in a config_log_created event before the
// hub stores or forwards it: the event would otherwise carry the site's passwords (the SMTP
// password, an API token, our own plugin secret) to every rule on "*" and into the DLQ.
func redactSecrets(ev *mih.Event) {
	if ev.EventName != configLogCreated || len(ev.Other) == 0 {
		return
	}
	var other map[string]any
	d := json.NewDecoder(bytes.NewReader(ev.Other))
	d.UseNumber()
	if d.Decode(&other) != nil {
		return
	}
	name, _ := other["name"].(string)
	if !secretSetting(name) {
		return
	}
	for _, k := range []string{"oldvalue", "value"} {
		if v, ok := other[k]; ok && v != nil && v != "" {
			other[k] = mih.Masked
		}
	}
	if b, err := json.Marshal(other); err == nil {
		ev.Other = b
	}
}

func secretSetting(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretSettingWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
