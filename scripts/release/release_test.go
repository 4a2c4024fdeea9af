package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Two builds of the same source give byte-identical archives and SHA256SUMS. It builds the
// host's platform only, to stay quick; `make release-check` runs every target.
func TestRelease_Reproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mih twice")
	}
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := runtime.GOOS + "/" + runtime.GOARCH
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var sums [2][]byte
	var dirs [2]string
	for i := range 2 {
		dirs[i] = t.TempDir()
		o := options{Version: "1.2.3", Out: dirs[i], Targets: []string{target}, Root: root, Commit: "0123abc", Date: date, Plugin: true, Archives: true}
		if _, err := build(ctx, o); err != nil {
			t.Fatal(err)
		}
		if sums[i], err = os.ReadFile(filepath.Join(dirs[i], "SHA256SUMS")); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sums[0], sums[1]) {
		t.Fatalf("two builds differ:\n%s\n%s", sums[0], sums[1])
	}
	top := "mih_1.2.3_" + runtime.GOOS + "_" + runtime.GOARCH
	for _, want := range []string{top + ".tar.gz", "local_mih_1.2.3.zip"} {
		if !strings.Contains(string(sums[0]), "  "+want+"\n") {
			t.Errorf("SHA256SUMS does not list %s:\n%s", want, sums[0])
		}
	}

	// The archive: one top folder, the binary, README and LICENSE, owned by root, dated at
	// the commit.
	f, err := os.Open(filepath.Join(dirs[0], top+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	bin := filepath.Join(t.TempDir(), "mih")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(date) {
			t.Errorf("%s: owner %d:%d %q, time %s; want 0:0 at %s", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime, date)
		}
		if h.Name == top+"/mih" {
			b, _ := io.ReadAll(tr)
			os.WriteFile(bin, b, 0o755)
		}
	}
	want := []string{top + "/", top + "/LICENSE", top + "/README.md", top + "/mih"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("archive holds %v, want %v", names, want)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mih 1.2.3\ncommit: 0123abc\nbuilt:  2026-03-04T05:06:07Z\n") {
		t.Errorf("mih version: %v\n%s", err, out)
	}
	// Static: no dynamic loader.
	if runtime.GOOS == "linux" {
		if b, _ := os.ReadFile(bin); bytes.Contains(b, []byte("/lib64/ld-linux")) || bytes.Contains(b, []byte("/lib/ld-linux")) {
			t.Errorf("the binary asks for a dynamic loader: not static")
		}
	}

	// The plugin's zip holds the plugin under mih/, without the developer tests.
	zf, err := zip.OpenReader(filepath.Join(dirs[0], "local_mih_1.2.3.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	var hasVersion bool
	for _, f := range zf.File {
		if f.Name == "mih/version.php" {
			hasVersion = true
		}
		if strings.Contains(f.Name, "tests/standalone") || !strings.HasPrefix(f.Name, "mih/") {
			t.Errorf("plugin zip holds %s", f.Name)
		}
	}
	if !hasVersion {
		t.Errorf("plugin zip has no mih/version.php")
	}
}

func TestRelease_BadVersion(t *testing.T) {
	if err := run(context.Background(), []string{"-version", "v1.2"}, io.Discard); err == nil || !strings.Contains(err.Error(), "1.2.3") {
		t.Errorf("got %v, want a version error", err)
	}
}
