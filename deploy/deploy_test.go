// Package deploy checks the deployment files of this folder with the libraries of their
// formats: the Compose file with the Compose specification's loader, the Kubernetes manifests
// decoded strictly into the Kubernetes API's types. It is a module of its own so that those
// libraries stay out of the hub's dependencies; scripts/test.sh runs it.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	goyaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

func TestCompose(t *testing.T) {
	env := map[string]string{
		"MOODLE_DB_PASSWORD": "m", "MOODLE_ADMIN_PASSWORD": "a", "MIH_DB_PASSWORD": "h",
		"MIH_SECRET_KEY": strings.Repeat("ab", 32), "MIH_ADMIN_TOKEN": "0123456789abcdef0123",
	}
	load := func(env map[string]string) (*types.Project, error) {
		b, err := os.ReadFile("compose/compose.yaml")
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs("compose")
		return loader.LoadWithContext(context.Background(), types.ConfigDetails{
			WorkingDir:  abs,
			ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: b}},
			Environment: env,
		}, func(o *loader.Options) { o.SkipResolveEnvironment = false })
	}
	p, err := load(env)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	var names []string
	for name := range p.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "mih,moodle,postgres" {
		t.Fatalf("services %v, want mih, moodle, postgres", names)
	}
	mih := p.Services["mih"]
	if mih.Environment["MIH_DATABASE"] == nil || !strings.HasPrefix(*mih.Environment["MIH_DATABASE"], "postgres://mih:h@postgres:5432/mih") {
		t.Errorf("mih's database: %v", mih.Environment["MIH_DATABASE"])
	}
	if _, ok := mih.DependsOn["postgres"]; !ok || mih.HealthCheck == nil || len(mih.Ports) != 1 || mih.Ports[0].Target != 8080 {
		t.Errorf("mih service: depends %v, health %v, ports %v", mih.DependsOn, mih.HealthCheck, mih.Ports)
	}
	for k := range mih.Environment {
		// mih refuses MIH_* variables it does not know: only its settings may use the prefix.
		if strings.HasPrefix(k, "MIH_") && !slices.Contains([]string{"MIH_DATABASE", "MIH_SECRET_KEY", "MIH_ADMIN_TOKEN", "MIH_LOG_FORMAT"}, k) {
			t.Errorf("mih's environment has %s, which mih would refuse", k)
		}
	}
	// A missing secret is named, not silently empty.
	delete(env, "MIH_SECRET_KEY")
	if _, err := load(env); err == nil || !strings.Contains(err.Error(), "MIH_SECRET_KEY") {
		t.Errorf("compose.yaml without MIH_SECRET_KEY: %v", err)
	}
	for _, f := range []string{"compose/site.yaml", "compose/initdb/10-mih.sh", "compose/env.example"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("compose.yaml refers to %s: %v", f, err)
		}
	}
}

func TestKubernetes(t *testing.T) {
	b, err := os.ReadFile("kubernetes/mih.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var dep appsv1.Deployment
	dec := goyaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		raw, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		kind, _ := doc["kind"].(string)
		kinds[kind]++
		var obj any
		switch kind {
		case "Deployment":
			obj = &dep
		case "Service":
			obj = &corev1.Service{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			t.Errorf("unexpected kind %q", kind)
			continue
		}
		// Strict: a misspelt or misplaced field is an error, as the API server would say.
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if kinds["Deployment"] != 1 || kinds["Service"] != 1 || kinds["ConfigMap"] != 1 {
		t.Fatalf("kinds %v", kinds)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", dep.Spec.Replicas)
	}
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("containers: %+v", dep.Spec.Template.Spec.Containers)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil {
		t.Fatalf("the container needs HTTP liveness and readiness probes")
	}
	if c.LivenessProbe.HTTPGet.Path != "/api/v1/health" || c.ReadinessProbe.HTTPGet.Path != "/api/v1/ready" {
		t.Errorf("probes: liveness %s, readiness %s", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || *sc.RunAsUser != 10001 {
		t.Errorf("pod security context: %+v", sc)
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil {
		t.Errorf("the secrets come from a Secret: %+v", c.EnvFrom)
	}
	sel := dep.Spec.Selector.MatchLabels
	for k, v := range sel {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("the selector %v does not match the pod labels %v", sel, dep.Spec.Template.Labels)
		}
	}
}
