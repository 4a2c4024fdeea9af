// Command release builds mih's release archives, reproducibly: the same source and Go version
// give the same bytes. Run it through make:
//
//	make release VERSION=1.2.3
//
// or directly:
//
//	go run ./scripts/release -version 1.2.3 [-out dist] [-targets linux/amd64,windows/amd64]
//
// It writes, in -out, mih_VERSION_OS_ARCH.tar.gz (.zip for Windows) per target, each holding
// the static binary (CGO_ENABLED=0, -trimpath, no build id), README.md and LICENSE under one top
// folder; local_mih_VERSION.zip, the Moodle plugin; and SHA256SUMS over them all.
//
// Reproducible means: the binary's version, commit and date come from the flags and the
// commit, not the clock; archive entries are sorted, owned by 0:0, dated at the commit, with
// fixed modes; gzip writes no name or time.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets are the platforms a release is built for.
var defaultTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
}

// options is one release build.
type options struct {
	Version string
	Out     string
	Targets []string
	Root    string // the repository
	Commit  string
	Date    time.Time
	Plugin  bool
	// Archives builds the release archives of Targets; Debs the Debian packages (linux/amd64
	// and linux/arm64); Image the OCI image archive (linux/amd64).
	Archives bool
	Debs     bool
	Image    bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("release", flag.ContinueOnError)
	version := fl.String("version", "", "the version to build, like 1.2.3 (required)")
	out := fl.String("out", "dist", "folder to write the archives to")
	targets := fl.String("targets", strings.Join(defaultTargets, ","), "GOOS/GOARCH pairs, comma-separated")
	plugin := fl.Bool("plugin", true, "build the Moodle plugin's zip")
	archives := fl.Bool("archives", true, "build the release archives of -targets")
	debs := fl.Bool("deb", false, "build the Debian packages (amd64, arm64)")
	image := fl.Bool("image", false, "build the OCI image archive (linux/amd64)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if !versionRE.MatchString(*version) {
		return fmt.Errorf("-version %q: want a version like 1.2.3 (no leading v)", *version)
	}
	root, err := repoRoot(ctx)
	if err != nil {
		return err
	}
	commit, date, err := commitOf(ctx, root)
	if err != nil {
		return err
	}
	o := options{Version: *version, Out: *out, Targets: strings.Split(*targets, ","), Root: root,
		Commit: commit, Date: date, Plugin: *plugin, Archives: *archives, Debs: *debs, Image: *image}
	files, err := build(ctx, o)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

// build writes the release into o.Out and returns the files it wrote.
func build(ctx context.Context, o options) ([]string, error) {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, t := range o.Targets {
		if !o.Archives {
			break
		}
		goos, goarch, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("target %q: want GOOS/GOARCH", t)
		}
		f, err := buildTarget(ctx, o, goos, goarch)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", goos, goarch, err)
		}
		files = append(files, f)
	}
	if o.Plugin {
		f := filepath.Join(o.Out, "local_mih_"+o.Version+".zip")
		if err := pluginZip(filepath.Join(o.Root, "moodle-plugin", "local_mih"), f, o.Date); err != nil {
			return nil, fmt.Errorf("moodle plugin: %w", err)
		}
		files = append(files, f)
	}
	if o.Debs {
		for _, goarch := range []string{"amd64", "arm64"} {
			f, err := withBinary(ctx, o, "linux", goarch, func(bin string) (string, error) { return buildDeb(o, goarch, bin) })
			if err != nil {
				return nil, fmt.Errorf("deb %s: %w", goarch, err)
			}
			files = append(files, f)
		}
	}
	if o.Image {
		f, err := withBinary(ctx, o, "linux", "amd64", func(bin string) (string, error) { return buildImage(o, "amd64", bin) })
		if err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		files = append(files, f)
	}
	// The sums cover every file of this version in the folder, whichever run made it: `make
	// release` then `make deb` give one SHA256SUMS for both.
	sums := filepath.Join(o.Out, "SHA256SUMS")
	if err := writeSums(sums, o.Out, o.Version); err != nil {
		return nil, err
	}
	return append(files, sums), nil
}

// Binary builds the mih binary for one platform into dir and returns its path.
func Binary(ctx context.Context, root, dir, version, commit string, date time.Time, goos, goarch string) (string, error) {
	name := "mih"
	if goos == "windows" {
		name += ".exe"
	}
	bin := filepath.Join(dir, name)
	ldflags := fmt.Sprintf("-s -w -buildid= -X main.Version=%s -X main.Commit=%s -X main.Date=%s",
		version, commit, date.UTC().Format(time.RFC3339))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", bin, "./cmd/mih")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// withBinary builds the binary for a platform in a temporary folder and hands it to fn.
func withBinary(ctx context.Context, o options, goos, goarch string, fn func(bin string) (string, error)) (string, error) {
	tmp, err := os.MkdirTemp("", "mih-release-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	bin, err := Binary(ctx, o.Root, tmp, o.Version, o.Commit, o.Date, goos, goarch)
	if err != nil {
		return "", err
	}
	return fn(bin)
}

func buildTarget(ctx context.Context, o options, goos, goarch string) (string, error) {
	return withBinary(ctx, o, goos, goarch, func(bin string) (string, error) { return archive(o, goos, goarch, bin) })
}

// archive packs a binary with README and LICENSE under one top folder.
func archive(o options, goos, goarch, bin string) (string, error) {
	top := fmt.Sprintf("mih_%s_%s_%s", o.Version, goos, goarch)
	entries := []entry{
		{name: top + "/" + filepath.Base(bin), path: bin, mode: 0o755},
		{name: top + "/LICENSE", path: filepath.Join(o.Root, "LICENSE"), mode: 0o644},
		{name: top + "/README.md", path: filepath.Join(o.Root, "README.md"), mode: 0o644},
	}
	if goos == "windows" {
		out := filepath.Join(o.Out, top+".zip")
		return out, writeZip(out, entries, o.Date)
	}
	out := filepath.Join(o.Out, top+".tar.gz")
	return out, writeTarGz(out, entries, o.Date)
}

type entry struct {
	name string // the path inside the archive, with /
	path string // the file on disk
	mode int64
}

func sortEntries(es []entry) {
	slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.name, b.name) })
}

// writeTarGz writes a gzip-compressed tar of entries: sorted, owned by root, dated mtime, and
// a gzip header without name or time.
func writeTarGz(out string, es []entry, mtime time.Time) error {
	sortEntries(es)
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	for _, e := range es {
		// Parent folders first, so that every extractor creates them with sane modes.
		for d := filepath.ToSlash(filepath.Dir(e.name)); d != "." && !dirs[d]; d = filepath.ToSlash(filepath.Dir(d)) {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755,
				ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		b, err := os.ReadFile(e.path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(b)),
			ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return writeFileAtomic(out, buf.Bytes())
}

// writeZip writes a zip of entries, sorted and dated mtime.
func writeZip(out string, es []entry, mtime time.Time) error {
	sortEntries(es)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		b, err := os.ReadFile(e.path)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime.UTC()}
		h.SetMode(fs.FileMode(e.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return writeFileAtomic(out, buf.Bytes())
}

// pluginZip zips the Moodle plugin under the top folder mih/, as Moodle's plugin installer
// expects for local_mih, without the standalone developer tests.
func pluginZip(src, out string, mtime time.Time) error {
	if _, err := os.Stat(filepath.Join(src, "version.php")); err != nil {
		return fmt.Errorf("no plugin at %s: %w", src, err)
	}
	skip := filepath.Join(src, "tests", "standalone")
	var es []entry
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == skip {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		es = append(es, entry{name: "mih/" + filepath.ToSlash(rel), path: p, mode: 0o644})
		return nil
	})
	if err != nil {
		return err
	}
	return writeZip(out, es, mtime)
}

func writeSums(out, dir, version string) error {
	var b strings.Builder
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasSuffix(n, ".tmp") &&
			(strings.HasPrefix(n, "mih_"+version+"_") || n == "local_mih_"+version+".zip") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f := filepath.Join(dir, n)
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(f))
	}
	return writeFileAtomic(out, []byte(b.String()))
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func repoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run it inside the mih module")
	}
	return filepath.Dir(mod), nil
}

// commitOf is the checked-out commit and its date (SOURCE_DATE_EPOCH overrides the date, as
// reproducible-builds tooling expects). Outside a git checkout both are unknown and the date is
// the Unix epoch: still reproducible.
func commitOf(ctx context.Context, root string) (string, time.Time, error) {
	var commit string
	date := time.Unix(0, 0).UTC()
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%H %ct")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		f := strings.Fields(string(out))
		if len(f) == 2 {
			commit = f[0]
			if sec, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				date = time.Unix(sec, 0).UTC()
			}
		}
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	if commit == "" {
		commit = "unknown"
	}
	return commit, date, nil
}
