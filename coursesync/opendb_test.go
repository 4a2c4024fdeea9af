package coursesync

import (
	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync/moodledb"
)

// OpenMoodleDB opens a site's database as the processes that run syncs do (cmd/mih).
func OpenMoodleDB(raw, prefix string) (MoodleDB, error) {
	c, err := moodledb.Open(raw)
	if err != nil {
		return nil, err
	}
	return NewMoodleDB(c.DB, c.Postgres, prefix, c.Password), nil
}

// openSiteDB is Config.Database as cmd/mih sets it.
func openSiteDB(site *mih.Site) (MoodleDB, error) { return OpenMoodleDB(site.DB, site.Prefix) }
