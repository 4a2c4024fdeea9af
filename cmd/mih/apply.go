package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
)

// applyFile is the declarative configuration `mih apply` reads. Sites, services, rules, sync
// jobs and inbound endpoints use exactly the JSON shapes of the API; rules are matched by name,
// so every rule in a file needs one. An inbound endpoint lists its rules under rules:, each
// without its endpoint field.
type applyFile struct {
	Sites    []map[string]any `yaml:"sites"`
	Services []map[string]any `yaml:"services"`
	Rules    []map[string]any `yaml:"rules"`
	Sync     []map[string]any `yaml:"sync"`
	Inbound  []map[string]any `yaml:"inbound"`
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func runApply(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("apply", pflag.ContinueOnError)
	storeFlags(fs)
	path := fs.StringP("file", "f", "", "YAML file with sites:, services:, rules:, sync: and inbound:")
	dry := fs.Bool("dry-run", false, "check the file and say what would change, without changing anything")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError{"usage: mih apply -f FILE"}
	}
	raw, err := os.ReadFile(*path)
	if err != nil {
		return fmt.Errorf("read %s: %w", *path, err)
	}
	var f applyFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return mih.Errorf(mih.CodeInvalid, "%s: %v", *path, err)
	}
	// Secrets need not live in the file: ${NAME} in any string is replaced by the environment
	// variable NAME. It is done after parsing, so no value can change the file's structure.
	env := envMap(environ)
	var missing []string
	expand := func(s string) string {
		return envRef.ReplaceAllStringFunc(s, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	for _, m := range append(append(append(append(f.Sites, f.Services...), f.Rules...), f.Sync...), f.Inbound...) {
		expandStrings(m, expand)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return mih.Errorf(mih.CodeInvalid, "%s uses ${%s}: set the environment variable%s first, e.g. %s=… mih apply -f %s (values from the environment keep secrets out of the file)",
			*path, strings.Join(missing, "}, ${"), map[bool]string{true: "s", false: ""}[len(missing) > 1], missing[0], *path)
	}
	sites := make([]*mih.Site, 0, len(f.Sites))
	for i, m := range f.Sites {
		s := &mih.Site{}
		if err := decodeJSONShape(m, s); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: sites[%d]: %v", *path, i, err)
		}
		s.Normalize()
		if err := s.Validate(); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: sites[%d] (%s): %s", *path, i, s.Name, mih.ErrorMessage(err))
		}
		sites = append(sites, s)
	}
	services := make([]*mih.Service, 0, len(f.Services))
	for i, m := range f.Services {
		s := mih.NewService()
		if err := decodeJSONShape(m, s); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: services[%d]: %v", *path, i, err)
		}
		if err := s.Validate(); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: services[%d] (%s): %s", *path, i, s.Name, mih.ErrorMessage(err))
		}
		services = append(services, s)
	}
	rules := make([]*mih.Rule, 0, len(f.Rules))
	for i, m := range f.Rules {
		r := mih.NewRule()
		if err := decodeJSONShape(m, r); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: rules[%d]: %v", *path, i, err)
		}
		if r.Name == "" {
			return mih.Errorf(mih.CodeInvalid, "%s: rules[%d]: name: required in apply files (rules are matched by name)", *path, i)
		}
		if _, err := rule.Compile(r); err != nil {
			return mih.Errorf(mih.CodeInvalid, "%s: rules[%d] (%s): %s", *path, i, r.Name, mih.ErrorMessage(err))
		}
		rules = append(rules, r)
	}

	jobs, err := decodeSyncJobs(*path, f.Sync)
	if err != nil {
		return err
	}
	endpoints, err := decodeInbound(*path, f.Inbound)
	if err != nil {
		return err
	}

	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	// Every write goes through the operations layer, as the API's do.
	o := ops.New(ops.Config{Store: st})

	verb := map[bool]string{false: "", true: " (dry run)"}[*dry]
	for _, s := range sites {
		old, err := st.FindSiteByName(ctx, s.Name)
		switch {
		case mih.ErrorCode(err) == mih.CodeNotFound:
			if !*dry {
				if err := o.CreateSite(ctx, s); err != nil {
					return fmt.Errorf("create site %s: %w", s.Name, err)
				}
			}
			fmt.Fprintf(stdout, "site %s created%s\n", s.Name, verb)
		case err != nil:
			return fmt.Errorf("find site %s: %w", s.Name, err)
		default:
			if err := s.KeepSecrets(old); err != nil {
				return fmt.Errorf("site %s: %w", s.Name, err)
			}
			if sameSite(old, s) {
				fmt.Fprintf(stdout, "site %s unchanged\n", s.Name)
				continue
			}
			if !*dry {
				if err := o.UpdateSite(ctx, s); err != nil {
					return fmt.Errorf("update site %s: %w", s.Name, err)
				}
			}
			fmt.Fprintf(stdout, "site %s updated%s\n", s.Name, verb)
		}
	}
	for _, s := range services {
		old, err := st.FindServiceByName(ctx, s.Name)
		switch {
		case mih.ErrorCode(err) == mih.CodeNotFound:
			if !*dry {
				if err := o.CreateService(ctx, s); err != nil {
					return fmt.Errorf("create service %s: %w", s.Name, err)
				}
			}
			fmt.Fprintf(stdout, "service %s created%s\n", s.Name, verb)
		case err != nil:
			return fmt.Errorf("find service %s: %w", s.Name, err)
		default:
			if err := s.KeepSecrets(old); err != nil {
				return fmt.Errorf("service %s: %w", s.Name, err)
			}
			if sameService(old, s) {
				fmt.Fprintf(stdout, "service %s unchanged\n", s.Name)
				continue
			}
			if !*dry {
				if err := o.UpdateService(ctx, s); err != nil {
					return fmt.Errorf("update service %s: %w", s.Name, err)
				}
			}
			fmt.Fprintf(stdout, "service %s updated%s\n", s.Name, verb)
		}
	}
	existing, err := st.FindRules(ctx, mih.RuleFilter{})
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	byName := map[string]*mih.Rule{}
	for _, r := range existing {
		if r.Name != "" {
			byName[r.Name] = r
		}
	}
	for _, r := range rules {
		if _, err := st.FindServiceByName(ctx, r.Service); err != nil && !(*dry && inFile(services, r.Service)) {
			return mih.Errorf(mih.CodeInvalid, "rule %s: service %q does not exist", r.Name, r.Service)
		}
		old, ok := byName[r.Name]
		if !ok {
			if !*dry {
				if err := o.CreateRule(ctx, r); err != nil {
					return fmt.Errorf("create rule %s: %w", r.Name, err)
				}
			}
			fmt.Fprintf(stdout, "rule %s created%s\n", r.Name, verb)
			continue
		}
		r.ID = old.ID
		if sameRule(old, r) {
			fmt.Fprintf(stdout, "rule %s unchanged\n", r.Name)
			continue
		}
		if !*dry {
			if err := o.UpdateRule(ctx, r); err != nil {
				return fmt.Errorf("update rule %s: %w", r.Name, err)
			}
		}
		fmt.Fprintf(stdout, "rule %s updated%s\n", r.Name, verb)
	}
	if err := applyInbound(ctx, o, endpoints, sites, *dry, verb, stdout); err != nil {
		return err
	}
	return applySyncJobs(ctx, st, o, jobs, sites, services, *dry, verb, stdout)
}

// decodeJSONShape decodes a YAML mapping through JSON, so that apply files and the API share one
// shape and one set of field names; unknown fields are errors.
func decodeJSONShape(m map[string]any, v any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func sameSite(a, b *mih.Site) bool {
	x, y := *a, *b
	x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
	return x == y
}

func sameService(a, b *mih.Service) bool {
	x, y := *a, *b
	x.CreatedAt, x.UpdatedAt, x.CircuitState = y.CreatedAt, y.UpdatedAt, y.CircuitState
	return reflect.DeepEqual(normalizeHeaders(x), normalizeHeaders(y))
}

func normalizeHeaders(s mih.Service) mih.Service {
	if len(s.Headers) == 0 {
		s.Headers = nil
	}
	return s
}

func sameRule(a, b *mih.Rule) bool {
	x, y := *a, *b
	x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
	if len(x.Enrich) == 0 && len(y.Enrich) == 0 {
		x.Enrich, y.Enrich = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

func inFile(ss []*mih.Service, name string) bool {
	for _, s := range ss {
		if s.Name == name {
			return true
		}
	}
	return false
}

func expandStrings(v any, expand func(string) string) any {
	switch t := v.(type) {
	case string:
		return expand(t)
	case map[string]any:
		for k, x := range t {
			t[k] = expandStrings(x, expand)
		}
	case []any:
		for i, x := range t {
			t[i] = expandStrings(x, expand)
		}
	}
	return v
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// decodeSyncJobs reads the file's sync jobs and checks their own fields and schedules; that their
// sites and services exist is checked when they are applied.
func decodeSyncJobs(path string, list []map[string]any) ([]*mih.SyncJob, error) {
	jobs := make([]*mih.SyncJob, 0, len(list))
	for i, m := range list {
		j := mih.NewSyncJob()
		if err := decodeJSONShape(m, j); err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "%s: sync[%d]: %s", path, i, jsonMessage(err))
		}
		j.Normalize()
		err := j.Validate()
		if err == nil && j.Schedule != "" {
			_, err = coursesync.ParseSchedule(j.Schedule)
		}
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "%s: sync[%d] (%s): %s", path, i, j.Name, mih.ErrorMessage(err))
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// jsonMessage is a decoding error's text; a category of the wrong shape says so itself.
func jsonMessage(err error) string {
	if e, ok := errors.AsType[*mih.Error](err); ok {
		return e.Message
	}
	return err.Error()
}

// applyRegistry finds sites and services in the store, and, in a dry run, also in the file,
// where they would have been created.
type applyRegistry struct {
	st       mih.Store
	sites    []*mih.Site
	services []*mih.Service
	dry      bool
}

func (r applyRegistry) FindSiteByName(ctx context.Context, name string) (*mih.Site, error) {
	s, err := r.st.FindSiteByName(ctx, name)
	if mih.ErrorCode(err) == mih.CodeNotFound && r.dry {
		for _, x := range r.sites {
			if x.Name == name {
				return x, nil
			}
		}
	}
	return s, err
}

func (r applyRegistry) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	s, err := r.st.FindServiceByName(ctx, name)
	if mih.ErrorCode(err) == mih.CodeNotFound && r.dry {
		for _, x := range r.services {
			if x.Name == name {
				return x, nil
			}
		}
	}
	return s, err
}

// applySyncJobs creates or replaces the file's sync jobs, after the sites and services they
// name. Runs are not started: a job runs on its schedule, or when asked.
func applySyncJobs(ctx context.Context, st mih.Store, o *ops.Ops, jobs []*mih.SyncJob, sites []*mih.Site, services []*mih.Service,
	dry bool, verb string, stdout io.Writer) error {
	reg := applyRegistry{st: st, sites: sites, services: services, dry: dry}
	for _, j := range jobs {
		if err := coursesync.CheckJob(ctx, reg, j); err != nil {
			return mih.Errorf(mih.CodeInvalid, "sync job %s: %s", j.Name, mih.ErrorMessage(err))
		}
		old, err := st.FindSyncJobByName(ctx, j.Name)
		switch {
		case mih.ErrorCode(err) == mih.CodeNotFound:
			if !dry {
				if err := o.CreateSyncJob(ctx, j); err != nil {
					return fmt.Errorf("create sync job %s: %w", j.Name, err)
				}
			}
			fmt.Fprintf(stdout, "sync job %s created%s\n", j.Name, verb)
		case err != nil:
			return fmt.Errorf("find sync job %s: %w", j.Name, err)
		default:
			if sameSyncJob(old, j) {
				fmt.Fprintf(stdout, "sync job %s unchanged\n", j.Name)
				continue
			}
			if !dry {
				if err := o.UpdateSyncJob(ctx, j); err != nil {
					return fmt.Errorf("update sync job %s: %w", j.Name, err)
				}
			}
			fmt.Fprintf(stdout, "sync job %s updated%s\n", j.Name, verb)
		}
	}
	return nil
}

func sameSyncJob(a, b *mih.SyncJob) bool {
	x, y := *a, *b
	x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
	return reflect.DeepEqual(x, y)
}
