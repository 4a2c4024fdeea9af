package ops

import (
	"context"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/webhook"
)

// CheckInboundEndpoint validates an endpoint: its own fields, and secrets that can verify a
// signature, refused when saved rather than when the first message fails.
func (o *Ops) CheckInboundEndpoint(e *mih.InboundEndpoint) error {
	for i, s := range e.Secrets {
		if err := webhook.CheckSecret(s); err != nil {
			return mih.Errorf(mih.CodeInvalid, "secrets[%d]: %s", i, mih.ErrorMessage(err))
		}
	}
	return e.Validate()
}

// CreateInboundEndpoint validates and stores a new endpoint. The receivers read endpoints from
// the store on every message, and the queue consumers within their interval: nothing to
// invalidate.
func (o *Ops) CreateInboundEndpoint(ctx context.Context, e *mih.InboundEndpoint) error {
	if err := o.CheckInboundEndpoint(e); err != nil {
		return err
	}
	return o.store.CreateInboundEndpoint(ctx, e)
}

// UpdateInboundEndpoint validates and stores an endpoint; merge masked secrets with
// mih.InboundEndpoint.KeepSecrets first.
func (o *Ops) UpdateInboundEndpoint(ctx context.Context, e *mih.InboundEndpoint) error {
	if err := o.CheckInboundEndpoint(e); err != nil {
		return err
	}
	return o.store.UpdateInboundEndpoint(ctx, e)
}

// DeleteInboundEndpoint deletes an endpoint with its rules; its messages and calls stay.
func (o *Ops) DeleteInboundEndpoint(ctx context.Context, name string) error {
	return o.store.DeleteInboundEndpoint(ctx, name)
}

// CheckInboundRule compiles a rule (filter, template) and checks that its site exists.
func (o *Ops) CheckInboundRule(ctx context.Context, r *mih.InboundRule) error {
	if _, err := inbound.Compile(r); err != nil {
		return err
	}
	if _, err := o.store.FindSiteByName(ctx, r.Site); mih.ErrorCode(err) == mih.CodeNotFound {
		return mih.Errorf(mih.CodeInvalid, "site %q not found", r.Site)
	} else if err != nil {
		return err
	}
	return nil
}

// CreateInboundRule checks and stores a new inbound rule.
func (o *Ops) CreateInboundRule(ctx context.Context, r *mih.InboundRule) error {
	if err := o.CheckInboundRule(ctx, r); err != nil {
		return err
	}
	return o.store.CreateInboundRule(ctx, r)
}

// UpdateInboundRule checks and stores an inbound rule.
func (o *Ops) UpdateInboundRule(ctx context.Context, r *mih.InboundRule) error {
	if err := o.CheckInboundRule(ctx, r); err != nil {
		return err
	}
	return o.store.UpdateInboundRule(ctx, r)
}

// DeleteInboundRule deletes an inbound rule; its calls stay.
func (o *Ops) DeleteInboundRule(ctx context.Context, id int64) error {
	return o.store.DeleteInboundRule(ctx, id)
}
