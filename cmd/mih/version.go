package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/pflag"
)

// Set at build time by the release build:
//
//	-ldflags "-X main.Version=1.2.3 -X main.Commit=… -X main.Date=2026-01-02T03:04:05Z"
//
// A `go install …@v1.2.3` or `go build` in a checkout sets none of them; buildInfo then reads
// the module version and the VCS stamp Go embeds in every binary.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

func init() {
	// One place decides the version every part of the binary reports (banner, User-Agent,
	// health): a binary built without -ldflags uses its module version when it has one.
	if Version == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			if v := bi.Main.Version; v != "" && v != "(devel)" {
				Version = strings.TrimPrefix(v, "v")
			}
		}
	}
}

// buildInfo is what `mih version` reports.
type buildInfo struct {
	Version, Commit, Date, Go, Platform string
	Modified                            bool
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true" && Commit == ""
			}
		}
	}
	return b
}

func runVersion(_ context.Context, c *cli, args []string) error {
	fs := pflag.NewFlagSet("version", pflag.ContinueOnError)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"usage: mih version"}
	}
	b := readBuildInfo()
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	}
	if b.Modified {
		commit += " (with uncommitted changes)"
	}
	date := b.Date
	if date == "" {
		date = "unknown"
	}
	fmt.Fprintf(c.stdout, "mih %s\ncommit: %s\nbuilt:  %s\ngo:     %s %s\n", b.Version, commit, date, b.Go, b.Platform)
	return nil
}
