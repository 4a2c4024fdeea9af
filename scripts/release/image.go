package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The image's user: numeric, so that runtimes can check it is not root without reading
// /etc/passwd.
const imageUID = 10001

// imageSources are the host files the image takes: Debian's CA bundle and time zone database.
var imageSources = struct{ CACerts, ZoneInfo string }{"/etc/ssl/certs/ca-certificates.crt", "/usr/share/zoneinfo"}

// buildImage writes dist/mih_VERSION_oci.tar, an OCI image layout in a tar (what `podman load`,
// `skopeo copy oci-archive:…` and `docker load` read), built from scratch: one layer with the
// static binary, the CA certificates, the time zone database, /etc/passwd and /etc/group with
// the mih user, /data and /tmp. The layout is written here rather than by buildah, so that it
// needs no container runtime and is reproducible: every date is the commit's.
func buildImage(o options, goarch, bin string) (string, error) {
	layer, diffID, err := imageLayer(bin, o.Date)
	if err != nil {
		return "", err
	}
	created := o.Date.UTC().Format(time.RFC3339)
	labels := map[string]string{
		"org.opencontainers.image.title":         "mih",
		"org.opencontainers.image.description":   "Integration Hub for Moodle",
		"org.opencontainers.image.version":       o.Version,
		"org.opencontainers.image.revision":      o.Commit,
		"org.opencontainers.image.created":       created,
		"org.opencontainers.image.source":        "https://github.com/mihhub/mih",
		"org.opencontainers.image.url":           "https://github.com/mihhub/mih",
		"org.opencontainers.image.documentation": "https://github.com/mihhub/mih/blob/main/docs/install.md",
		"org.opencontainers.image.licenses":      "Apache-2.0",
	}
	config := map[string]any{
		"created":      created,
		"architecture": goarch,
		"os":           "linux",
		"config": map[string]any{
			"User":       fmt.Sprintf("%d:%d", imageUID, imageUID),
			"Entrypoint": []string{"/usr/bin/mih"},
			"Cmd":        []string{"serve", "--listen", "0.0.0.0:8080"},
			// MIH_DATA, not a flag, so that `mih token create` run in the container finds it too.
			"Env":          []string{"PATH=/usr/bin", "MIH_DATA=/data", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "ZONEINFO=/usr/share/zoneinfo"},
			"ExposedPorts": map[string]any{"8080/tcp": map[string]any{}},
			"Volumes":      map[string]any{"/data": map[string]any{}},
			"WorkingDir":   "/data",
			"StopSignal":   "SIGTERM",
			"Labels":       labels,
			// Not in the OCI image spec, but read by Docker and Podman from the same config.
			"Healthcheck": map[string]any{
				"Test":        []string{"CMD", "/usr/bin/mih", "health", "--quiet"},
				"Interval":    int64(30 * time.Second),
				"Timeout":     int64(5 * time.Second),
				"StartPeriod": int64(10 * time.Second),
				"Retries":     3,
			},
		},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{"created": created, "created_by": "mih scripts/release: static mih, CA certificates, tzdata, user mih"}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return "", err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor("application/vnd.oci.image.config.v1+json", configJSON),
		"layers":        []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)},
		"annotations":   map[string]string{"org.opencontainers.image.created": created},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	md := descriptor("application/vnd.oci.image.manifest.v1+json", manifestJSON)
	md["platform"] = map[string]string{"architecture": goarch, "os": "linux"}
	md["annotations"] = map[string]string{
		"org.opencontainers.image.ref.name": o.Version,
		// What podman and docker name the loaded image.
		"io.containerd.image.name": "localhost/mih:" + o.Version,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []any{md},
	})
	if err != nil {
		return "", err
	}
	var files []tarFile
	for _, b := range [][]byte{configJSON, layer, manifestJSON} {
		files = append(files, tarFile{name: "blobs/sha256/" + digestHex(b), data: b, mode: 0o644})
	}
	files = append(files,
		tarFile{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`), mode: 0o644},
		tarFile{name: "index.json", data: index, mode: 0o644})
	var buf bytes.Buffer
	if err := writeTar(&buf, files, o.Date); err != nil {
		return "", err
	}
	out := filepath.Join(o.Out, fmt.Sprintf("mih_%s_oci.tar", o.Version))
	return out, writeFileAtomic(out, buf.Bytes())
}

func digestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": "sha256:" + digestHex(b), "size": len(b)}
}

// tarFile is an entry of a tar: a file, a folder (dir) or a symbolic link (link).
type tarFile struct {
	name     string
	data     []byte
	mode     int64
	dir      bool
	link     string
	uid, gid int
}

// imageLayer is the root filesystem as a gzip-compressed tar, and the digest of the tar itself
// (the config's diff_id).
func imageLayer(bin string, mtime time.Time) (layer []byte, diffID string, err error) {
	binData, err := os.ReadFile(bin)
	if err != nil {
		return nil, "", err
	}
	certs, err := os.ReadFile(imageSources.CACerts)
	if err != nil {
		return nil, "", fmt.Errorf("CA certificates (apt-get install ca-certificates): %w", err)
	}
	files := []tarFile{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nmih:x:%d:%d:mih:/data:/sbin/nologin\n", imageUID, imageUID)},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nmih:x:%d:\n", imageUID)},
		{name: "etc/ssl/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "data/", dir: true, mode: 0o700, uid: imageUID, gid: imageUID},
		{name: "tmp/", dir: true, mode: 0o1777},
		{name: "usr/", dir: true, mode: 0o755},
		{name: "usr/bin/", dir: true, mode: 0o755},
		{name: "usr/bin/mih", mode: 0o755, data: binData},
		{name: "usr/share/", dir: true, mode: 0o755},
	}
	zoneRoot := imageSources.ZoneInfo
	err = filepath.WalkDir(zoneRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(filepath.Dir(zoneRoot), p)
		if err != nil {
			return err
		}
		name := "usr/share/" + filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			files = append(files, tarFile{name: name + "/", dir: true, mode: 0o755})
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			// An absolute link (Debian's localtime → /etc/localtime) points outside the image.
			if filepath.IsAbs(target) {
				return nil
			}
			files = append(files, tarFile{name: name, link: target, mode: 0o777})
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			files = append(files, tarFile{name: name, data: b, mode: 0o644})
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("time zone data (apt-get install tzdata): %w", err)
	}
	var raw bytes.Buffer
	if err := writeTar(&raw, files, mtime); err != nil {
		return nil, "", err
	}
	diffID = "sha256:" + digestHex(raw.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, "", err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}

// writeTar writes files sorted by name (a folder before what it holds), dated mtime.
func writeTar(w *bytes.Buffer, files []tarFile, mtime time.Time) error {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b tarFile) int { return strings.Compare(a.name, b.name) })
	tw := tar.NewWriter(w)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Uid: f.uid, Gid: f.gid, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag = tar.TypeDir
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
