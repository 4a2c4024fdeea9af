package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// debFor builds the package of version for this machine's architecture into a temporary folder.
func debFor(t *testing.T, version string) string {
	t.Helper()
	if runtime.GOOS != "linux" || debArch[runtime.GOARCH] == "" {
		t.Skip("Debian packages are built for linux/amd64 and linux/arm64")
	}
	ctx := context.Background()
	root, err := repoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := options{Version: version, Out: t.TempDir(), Root: root, Commit: "0123abc", Date: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	deb, err := withBinary(ctx, o, "linux", runtime.GOARCH, func(bin string) (string, error) { return buildDeb(o, runtime.GOARCH, bin) })
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

// The package is one dpkg reads: its control fields, conffiles, maintainer scripts and files.
func TestDeb_Contents(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mih")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
	deb := debFor(t, "1.2.3")
	if filepath.Base(deb) != "mih_1.2.3_"+runtime.GOARCH+".deb" {
		t.Errorf("package named %s", filepath.Base(deb))
	}
	info, err := exec.Command("dpkg-deb", "--info", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}
	for _, want := range []string{"Package: mih", "Version: 1.2.3", "Architecture: " + runtime.GOARCH, "postinst", "prerm", "postrm", "conffiles"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	list, err := exec.Command("dpkg-deb", "--contents", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, list)
	}
	for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/mih", "./usr/lib/systemd/system/mih.service",
		"-rw------- root/root", "./etc/mih/mih.env", "./etc/mih/mih.yaml", "./usr/share/doc/mih/copyright"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("dpkg-deb --contents lacks %q:\n%s", want, list)
		}
	}
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "--ctrl-tarfile", deb).Output(); err != nil {
		t.Fatal(err)
	} else {
		os.WriteFile(filepath.Join(dir, "control.tar"), out, 0o644)
	}
	out, err := exec.Command("tar", "-xOf", filepath.Join(dir, "control.tar"), "./conffiles").Output()
	if err != nil || string(out) != "/etc/mih/mih.yaml\n/etc/mih/mih.env\n" {
		t.Errorf("conffiles: %v %q", err, out)
	}
	// Same inputs, same bytes.
	again := debFor(t, "1.2.3")
	a, _ := os.ReadFile(deb)
	b, _ := os.ReadFile(again)
	if string(a) != string(b) {
		t.Errorf("two builds of the package differ")
	}
}

// systemd-analyze verify accepts the unit, with ExecStart pointing at a real binary.
func TestDeb_UnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd)")
	}
	root, err := repoRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", "mih.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=mih", "StateDirectory=mih", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"Restart=on-failure", "EnvironmentFile=-/etc/mih/mih.env", "ExecStart=/usr/bin/mih serve --config /etc/mih/mih.yaml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("mih.service lacks %s", want)
		}
	}
	// verify checks that ExecStart's program exists: point it at one that does.
	dir := t.TempDir()
	path := filepath.Join(dir, "mih.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/mih", "/bin/true")), 0o644)
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Installs, upgrades, removes and purges the package on this machine: opt-in, as root, with
// MIH_TEST_DEB_INSTALL=1 (it changes the system: a mih user, /etc/mih, /var/lib/mih).
func TestDeb_InstallUpgradeRemove(t *testing.T) {
	if os.Getenv("MIH_TEST_DEB_INSTALL") != "1" {
		t.Skip("set MIH_TEST_DEB_INSTALL=1 to install the package on this machine (root)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if out, err := exec.Command("dpkg-query", "-W", "mih").CombinedOutput(); err == nil {
		t.Fatalf("a mih package is installed already; not touching it: %s", out)
	}
	v1, v2 := debFor(t, "1.2.3"), debFor(t, "1.2.4")
	dpkg := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "mih").Run() })

	dpkg("-i", v1)
	if out, err := exec.Command("/usr/bin/mih", "version").Output(); err != nil || !strings.HasPrefix(string(out), "mih 1.2.3\n") {
		t.Fatalf("installed mih version: %v %q", err, out)
	}
	if out, err := exec.Command("getent", "passwd", "mih").Output(); err != nil || !strings.Contains(string(out), "/var/lib/mih") {
		t.Fatalf("mih user: %v %q", err, out)
	}
	if fi, err := os.Stat("/etc/mih/mih.env"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("/etc/mih/mih.env: %v %v", fi, err)
	}
	// The hub's data, made as the mih user by the CLI with the packaged configuration.
	out, err := exec.Command("runuser", "-u", "mih", "--", "/usr/bin/mih", "token", "create", "--config", "/etc/mih/mih.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("mih token create as mih: %v\n%s", err, out)
	}
	// An administrator's change to a conffile survives the upgrade.
	os.WriteFile("/etc/mih/mih.yaml", []byte("listen: 127.0.0.1:8099\ndata: /var/lib/mih\n"), 0o644)

	dpkg("-i", v2)
	if out, _ := exec.Command("/usr/bin/mih", "version").Output(); !strings.HasPrefix(string(out), "mih 1.2.4\n") {
		t.Errorf("upgraded mih version: %q", out)
	}
	if b, _ := os.ReadFile("/etc/mih/mih.yaml"); !strings.Contains(string(b), "8099") {
		t.Errorf("the upgrade replaced the changed /etc/mih/mih.yaml: %s", b)
	}
	if _, err := os.Stat("/var/lib/mih/mih.db"); err != nil {
		t.Errorf("the upgrade lost the data: %v", err)
	}

	dpkg("--remove", "mih")
	if _, err := os.Stat("/usr/bin/mih"); err == nil {
		t.Errorf("/usr/bin/mih still there after remove")
	}
	for _, keep := range []string{"/var/lib/mih/mih.db", "/var/lib/mih/secret.key", "/etc/mih/mih.yaml"} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("remove deleted %s: %v", keep, err)
		}
	}
	dpkg("--purge", "mih")
	for _, gone := range []string{"/var/lib/mih", "/etc/mih"} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("purge left %s", gone)
		}
	}
}
