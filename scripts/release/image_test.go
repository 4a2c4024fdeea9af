package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The image archive, read as a loader reads it: index, manifest, config (user, entrypoint,
// volume, port, labels, health check); then its root filesystem, extracted and run with chroot
// as the image's user: `mih version`, and `mih serve` answering `mih health`. When buildah is
// installed, it loads the archive too.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mih")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the image is linux/amd64")
	}
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := options{Version: "1.2.3", Out: t.TempDir(), Root: root, Commit: "0123abc", Date: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	path, err := withBinary(ctx, o, "linux", "amd64", func(bin string) (string, error) { return buildImage(o, "amd64", bin) })
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "mih_1.2.3_oci.tar" {
		t.Errorf("image archive named %s", filepath.Base(path))
	}
	blobs := readTar(t, path)
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	mustJSON(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1.2.3" {
		t.Fatalf("index.json: %s", blobs["index.json"])
	}
	blob := func(digest string) []byte {
		b, ok := blobs["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok || "sha256:"+digestHex(b) != digest {
			t.Fatalf("blob %s missing or not matching its digest", digest)
		}
		return b
	}
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest, MediaType string }
	}
	mustJSON(t, blob(index.Manifests[0].Digest), &manifest)
	var config struct {
		Architecture, OS string
		Config           struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			ExposedPorts map[string]any
			Volumes      map[string]any
			Labels       map[string]string
			Healthcheck  struct{ Test []string }
		}
	}
	mustJSON(t, blob(manifest.Config.Digest), &config)
	c := config.Config
	if config.Architecture != "amd64" || config.OS != "linux" || c.User != "10001:10001" ||
		strings.Join(c.Entrypoint, " ") != "/usr/bin/mih" || strings.Join(c.Cmd, " ") != "serve --listen 0.0.0.0:8080" ||
		c.ExposedPorts["8080/tcp"] == nil || c.Volumes["/data"] == nil ||
		c.Labels["org.opencontainers.image.version"] != "1.2.3" || c.Labels["org.opencontainers.image.revision"] != "0123abc" ||
		strings.Join(c.Healthcheck.Test, " ") != "CMD /usr/bin/mih health --quiet" {
		t.Errorf("image config: %+v", config)
	}

	// The root filesystem.
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("layers: %+v", manifest.Layers)
	}
	if os.Geteuid() != 0 {
		t.Skip("running the image's binary with chroot needs root")
	}
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	os.MkdirAll(rootfs, 0o755)
	layer := filepath.Join(t.TempDir(), "layer.tar.gz")
	os.WriteFile(layer, blob(manifest.Layers[0].Digest), 0o644)
	if out, err := exec.Command("tar", "-xzpf", layer, "--same-owner", "-C", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("extract the layer: %v\n%s", err, out)
	}
	for _, want := range []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/Europe/Paris", "etc/passwd"} {
		if _, err := os.Stat(filepath.Join(rootfs, want)); err != nil {
			t.Errorf("the image lacks /%s", want)
		}
	}
	env := append([]string{"PATH=/usr/bin"}, c.Env...)
	chroot := func(args ...string) *exec.Cmd {
		cmd := exec.Command("chroot", append([]string{"--userspec=10001:10001", rootfs}, args...)...)
		cmd.Env = env
		return cmd
	}
	out, err := chroot("/usr/bin/mih", "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "mih 1.2.3\n") {
		t.Fatalf("mih version in the image: %v\n%s", err, out)
	}
	// serve as the image starts it, on a free port instead of 8080 (the host's network).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	listen := fmt.Sprintf("0.0.0.0:%d", port)
	srv := chroot("/usr/bin/mih", "serve", "--listen", listen)
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The health check as the image runs it: the same listen setting, through the env.
		hc := chroot("/usr/bin/mih", "health", "--quiet")
		hc.Env = append(hc.Env, "MIH_LISTEN="+listen)
		if err := hc.Run(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mih health never passed in the image\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "data", "secret.key")); err != nil || fi.Sys() == nil {
		t.Errorf("the hub wrote no secret key to /data: %v", err)
	}

	// A real loader, when there is one.
	if _, err := exec.LookPath("buildah"); err == nil {
		store := t.TempDir()
		bargs := func(args ...string) []string {
			return append([]string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}, args...)
		}
		if out, err := exec.Command("buildah", bargs("pull", "oci-archive:"+path)...).CombinedOutput(); err != nil {
			t.Fatalf("buildah pull: %v\n%s", err, out)
		}
		out, err := exec.Command("buildah", bargs("inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Labels}}", "oci-archive:"+path)...).CombinedOutput()
		if err != nil {
			// inspect by the loaded image's id when the transport is not accepted
			ids, _ := exec.Command("buildah", bargs("images", "-q")...).Output()
			id := strings.TrimSpace(strings.Split(string(ids), "\n")[0])
			out, err = exec.Command("buildah", bargs("inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Labels}}", id)...).CombinedOutput()
		}
		if err != nil || !strings.Contains(string(out), "10001:10001 [/usr/bin/mih]") || !strings.Contains(string(out), "org.opencontainers.image.version:1.2.3") {
			t.Errorf("buildah inspect: %v\n%s", err, out)
		}
		exec.Command("buildah", bargs("rmi", "--all", "--force")...).Run()
	}
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}
