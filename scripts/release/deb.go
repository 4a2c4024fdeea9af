package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// debFile is one file of a Debian package: its path on the target system, its bytes, its mode.
type debFile struct {
	path     string // absolute, like /usr/bin/mih
	data     []byte
	mode     int64
	conffile bool
}

// debArch is Debian's name of a GOARCH.
var debArch = map[string]string{"amd64": "amd64", "arm64": "arm64"}

// buildDeb writes dist/mih_VERSION_ARCH.deb for a linux binary: the binary, the systemd unit,
// the configuration and secrets files (conffiles, kept on upgrade), the docs, and the
// maintainer scripts from deploy/. It writes the ar archive itself, with every date at the
// commit, so the package is as reproducible as the archives.
func buildDeb(o options, goarch, bin string) (string, error) {
	arch, ok := debArch[goarch]
	if !ok {
		return "", fmt.Errorf("no Debian architecture for %s", goarch)
	}
	src := map[string][]byte{}
	for _, rel := range []string{"deploy/systemd/mih.service", "deploy/systemd/mih.yaml", "deploy/systemd/mih.env",
		"deploy/debian/postinst", "deploy/debian/prerm", "deploy/debian/postrm", "README.md", "LICENSE"} {
		b, err := os.ReadFile(filepath.Join(o.Root, rel))
		if err != nil {
			return "", fmt.Errorf("packaging file: %w", err)
		}
		src[rel] = b
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	files := []debFile{
		{path: "/usr/bin/mih", data: binData, mode: 0o755},
		{path: "/usr/lib/systemd/system/mih.service", data: src["deploy/systemd/mih.service"], mode: 0o644},
		{path: "/etc/mih/mih.yaml", data: src["deploy/systemd/mih.yaml"], mode: 0o644, conffile: true},
		{path: "/etc/mih/mih.env", data: src["deploy/systemd/mih.env"], mode: 0o600, conffile: true},
		{path: "/usr/share/doc/mih/README.md", data: src["README.md"], mode: 0o644},
		{path: "/usr/share/doc/mih/copyright", data: debCopyright(src["LICENSE"]), mode: 0o644},
	}
	maint := map[string][]byte{
		"postinst": src["deploy/debian/postinst"],
		"prerm":    src["deploy/debian/prerm"],
		"postrm":   src["deploy/debian/postrm"],
	}

	data, size, err := debData(files, o.Date)
	if err != nil {
		return "", err
	}
	var conffiles, md5sums strings.Builder
	for _, f := range files {
		if f.conffile {
			fmt.Fprintln(&conffiles, f.path)
		}
		sum := md5.Sum(f.data)
		fmt.Fprintf(&md5sums, "%s  %s\n", hex.EncodeToString(sum[:]), strings.TrimPrefix(f.path, "/"))
	}
	control := fmt.Sprintf(`Package: mih
Version: %s
Architecture: %s
Maintainer: mih maintainers <mih@mihhub.invalid>
Installed-Size: %d
Depends: passwd
Section: net
Priority: optional
Homepage: https://github.com/mihhub/mih
Description: Integration Hub for Moodle
 mih captures Moodle events, matches them against rules, renders payloads
 from templates and delivers them durably to external services, with
 retries, circuit breakers, a dead-letter queue and replay. It runs as the
 systemd service mih.service; settings in /etc/mih/mih.yaml, secrets in
 /etc/mih/mih.env, data in /var/lib/mih.
`, o.Version, arch, (size+1023)/1024)
	ctrl := []debFile{
		{path: "control", data: []byte(control), mode: 0o644},
		{path: "conffiles", data: []byte(conffiles.String()), mode: 0o644},
		{path: "md5sums", data: []byte(md5sums.String()), mode: 0o644},
	}
	for name, b := range maint {
		ctrl = append(ctrl, debFile{path: name, data: b, mode: 0o755})
	}
	controlTar, err := tarGz(ctrl, o.Date, false)
	if err != nil {
		return "", err
	}
	var deb bytes.Buffer
	deb.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", controlTar}, {"data.tar.gz", data}} {
		fmt.Fprintf(&deb, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, o.Date.Unix(), 0, 0, "100644", len(m.data))
		deb.Write(m.data)
		if len(m.data)%2 == 1 {
			deb.WriteByte('\n')
		}
	}
	out := filepath.Join(o.Out, fmt.Sprintf("mih_%s_%s.deb", o.Version, arch))
	return out, writeFileAtomic(out, deb.Bytes())
}

// debData is the data.tar.gz of the package, with every parent folder, and the installed size.
func debData(files []debFile, mtime time.Time) ([]byte, int64, error) {
	var size int64
	for _, f := range files {
		size += int64(len(f.data))
	}
	b, err := tarGz(files, mtime, true)
	return b, size, err
}

// tarGz is a tar.gz of files under ./, sorted, owned by root, dated mtime; with dirs, every
// parent folder gets an entry first (dpkg wants them).
func tarGz(files []debFile, mtime time.Time, dirs bool) ([]byte, error) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b debFile) int { return strings.Compare(a.path, b.path) })
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	seen := map[string]bool{}
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uname, h.Gname, h.Format = mtime, "root", "root", tar.FormatGNU
		return tw.WriteHeader(h)
	}
	if dirs {
		if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		name := strings.TrimPrefix(f.path, "/")
		if dirs {
			var parents []string
			for d := filepath.Dir(name); d != "." && !seen[d]; d = filepath.Dir(d) {
				seen[d] = true
				parents = append(parents, d)
			}
			slices.Reverse(parents)
			for _, d := range parents {
				if err := hdr(&tar.Header{Typeflag: tar.TypeDir, Name: "./" + d + "/", Mode: 0o755}); err != nil {
					return nil, err
				}
			}
		}
		if err := hdr(&tar.Header{Typeflag: tar.TypeReg, Name: "./" + name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(f.data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func debCopyright(license []byte) []byte {
	return append([]byte(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mih
Source: https://github.com/mihhub/mih

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0;
 it follows.

`), license...)
}
