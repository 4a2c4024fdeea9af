package tailer

import (
	"context"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestNew_Validation(t *testing.T) {
	ok := Config{Site: "main", DSN: "postgres://u@db/moodle"}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no site", func(c *Config) { c.Site = "" }, "site"},
		{"prefix with a quote", func(c *Config) { c.Prefix = "mdl_'; DROP TABLE x; --" }, "prefix"},
		{"uppercase prefix", func(c *Config) { c.Prefix = "MDL_" }, "prefix"},
		{"other prefix", func(c *Config) { c.Prefix = "m2_" }, ""},
		{"start beginning", func(c *Config) { c.Start = "beginning" }, ""},
		{"start id", func(c *Config) { c.Start = "12345" }, ""},
		{"start zero", func(c *Config) { c.Start = "0" }, "tail_from"},
		{"start word", func(c *Config) { c.Start = "yesterday" }, "tail_from"},
		{"batch too big", func(c *Config) { c.BatchSize = MaxBatchSize + 1 }, "batch"},
		{"negative poll", func(c *Config) { c.PollInterval = -1 }, "negative"},
		{"no db", func(c *Config) { c.DSN = "" }, "db"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			tl, err := New(c, metaStub{}, sinkStub{})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tl.cfg.Prefix == "" || tl.cfg.BatchSize != DefaultBatchSize || tl.cfg.PollInterval != DefaultPollInterval ||
					tl.cfg.GapTimeout != DefaultGapTimeout || tl.cfg.Start == "" {
					t.Errorf("defaults not applied: %+v", tl.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || mih.ErrorCode(err) != mih.CodeInvalid {
				t.Errorf("got %v, want an invalid error about %s", err, tc.want)
			}
		})
	}
}

// The validation never reaches them: New only needs them to be there.
type (
	metaStub struct{ mih.MetaStore }
	sinkStub struct{}
)

func (sinkStub) Ingest(context.Context, string, string, []*mih.Event) (mih.IngestResult, error) {
	return mih.IngestResult{}, nil
}
