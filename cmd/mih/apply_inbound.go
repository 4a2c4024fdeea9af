package main

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/webhook"
)

// inboundEndpoint is an endpoint of an apply file with its rules.
type inboundEndpoint struct {
	ep    *mih.InboundEndpoint
	rules []*mih.InboundRule
}

// decodeInbound reads the file's inbound endpoints and their rules and checks them (secrets,
// filters, templates); that the rules' sites exist is checked when they are applied.
func decodeInbound(path string, list []map[string]any) ([]inboundEndpoint, error) {
	out := make([]inboundEndpoint, 0, len(list))
	for i, m := range list {
		rawRules, _ := m["rules"].([]any)
		if _, ok := m["rules"]; ok && rawRules == nil {
			return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d]: rules: want a list", path, i)
		}
		delete(m, "rules")
		e := mih.NewInboundEndpoint()
		if err := decodeJSONShape(m, e); err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d]: %s", path, i, jsonMessage(err))
		}
		for j, s := range e.Secrets {
			if err := webhook.CheckSecret(s); err != nil {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): secrets[%d]: %s", path, i, e.Name, j, mih.ErrorMessage(err))
			}
		}
		if err := e.Validate(); err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): %s", path, i, e.Name, mih.ErrorMessage(err))
		}
		ie := inboundEndpoint{ep: e}
		for j, x := range rawRules {
			rm, ok := x.(map[string]any)
			if !ok {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): rules[%d]: want a mapping", path, i, e.Name, j)
			}
			r := mih.NewInboundRule()
			if err := decodeJSONShape(rm, r); err != nil {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): rules[%d]: %s", path, i, e.Name, j, jsonMessage(err))
			}
			if r.Endpoint != "" && r.Endpoint != e.Name {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): rules[%d]: endpoint %q: leave it out, a rule belongs to the endpoint it is listed under", path, i, e.Name, j, r.Endpoint)
			}
			r.Endpoint = e.Name
			if r.Name == "" {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): rules[%d]: name: required in apply files (rules are matched by name)", path, i, e.Name, j)
			}
			if _, err := inbound.Compile(r); err != nil {
				return nil, mih.Errorf(mih.CodeInvalid, "%s: inbound[%d] (%s): rules[%d] (%s): %s", path, i, e.Name, j, r.Name, mih.ErrorMessage(err))
			}
			ie.rules = append(ie.rules, r)
		}
		out = append(out, ie)
	}
	return out, nil
}

// applyInbound creates or updates the endpoints and their rules. Rules in the store that the
// file does not list are left alone, as outbound rules are.
func applyInbound(ctx context.Context, o *ops.Ops, eps []inboundEndpoint, sites []*mih.Site, dry bool, verb string, stdout io.Writer) error {
	st := o.Store()
	for _, ie := range eps {
		e := ie.ep
		old, err := st.FindInboundEndpoint(ctx, e.Name)
		switch {
		case mih.ErrorCode(err) == mih.CodeNotFound:
			if !dry {
				if err := o.CreateInboundEndpoint(ctx, e); err != nil {
					return fmt.Errorf("create inbound endpoint %s: %w", e.Name, err)
				}
			}
			fmt.Fprintf(stdout, "inbound endpoint %s created%s\n", e.Name, verb)
		case err != nil:
			return fmt.Errorf("find inbound endpoint %s: %w", e.Name, err)
		default:
			e.KeepSecrets(old)
			x, y := *old, *e
			x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
			if reflect.DeepEqual(x, y) {
				fmt.Fprintf(stdout, "inbound endpoint %s unchanged\n", e.Name)
				break
			}
			if !dry {
				if err := o.UpdateInboundEndpoint(ctx, e); err != nil {
					return fmt.Errorf("update inbound endpoint %s: %w", e.Name, err)
				}
			}
			fmt.Fprintf(stdout, "inbound endpoint %s updated%s\n", e.Name, verb)
		}
		existing, err := st.FindInboundRules(ctx, e.Name)
		if err != nil {
			return fmt.Errorf("list inbound rules of %s: %w", e.Name, err)
		}
		for _, r := range ie.rules {
			if _, err := st.FindSiteByName(ctx, r.Site); err != nil &&
				!(dry && slices.ContainsFunc(sites, func(s *mih.Site) bool { return s.Name == r.Site })) {
				return mih.Errorf(mih.CodeInvalid, "inbound rule %s/%s: site %q does not exist", e.Name, r.Name, r.Site)
			}
			i := slices.IndexFunc(existing, func(o *mih.InboundRule) bool { return o.Name == r.Name })
			if i < 0 {
				if !dry {
					if err := o.CreateInboundRule(ctx, r); err != nil {
						return fmt.Errorf("create inbound rule %s/%s: %w", e.Name, r.Name, err)
					}
				}
				fmt.Fprintf(stdout, "inbound rule %s/%s created%s\n", e.Name, r.Name, verb)
				continue
			}
			old := existing[i]
			r.ID = old.ID
			x, y := *old, *r
			x.CreatedAt, x.UpdatedAt = y.CreatedAt, y.UpdatedAt
			if x == y {
				fmt.Fprintf(stdout, "inbound rule %s/%s unchanged\n", e.Name, r.Name)
				continue
			}
			if !dry {
				if err := o.UpdateInboundRule(ctx, r); err != nil {
					return fmt.Errorf("update inbound rule %s/%s: %w", e.Name, r.Name, err)
				}
			}
			fmt.Fprintf(stdout, "inbound rule %s/%s updated%s\n", e.Name, r.Name, verb)
		}
	}
	return nil
}
