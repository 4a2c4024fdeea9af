package inbound

import (
	"context"

	"github.com/mihhub/mih"
)

// ServiceSource finds services by name; mih.ServiceStore satisfies it.
type ServiceSource interface {
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
}

// SiteSource finds sites by name; mih.SiteStore satisfies it.
type SiteSource interface {
	FindSiteByName(ctx context.Context, name string) (*mih.Site, error)
}

// Services resolves the names of sites' Web Services (mih.SiteService) to service-like
// targets, and every other name to the stored service. Give it to the delivery worker in place
// of the store.
type Services struct {
	Services ServiceSource
	Sites    SiteSource
	// Tune, when set, adjusts every site target (tests shorten the backoff with it).
	Tune func(*mih.Service)
}

// FindServiceByName returns the service, or the target of a site (CodeNotFound when the site
// is gone: its deliveries then go to the DLQ as their service's would).
func (s *Services) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	site, ok := mih.SiteOfService(name)
	if !ok {
		return s.Services.FindServiceByName(ctx, name)
	}
	st, err := s.Sites.FindSiteByName(ctx, site)
	if err != nil {
		return nil, err
	}
	svc := SiteTarget(st)
	if s.Tune != nil {
		s.Tune(svc)
	}
	return svc, nil
}

// Delivery settings of a site's Web Services. A site has no such settings of its own; these
// suit a Moodle that may be in maintenance for a while: seven attempts over about two minutes,
// then the DLQ, from which a replay sends the call again.
const (
	SiteTimeoutS        = 30
	SiteMaxRetries      = 6
	SiteInitialBackoffS = 2
	SiteMaxBackoffS     = 60
	SiteMaxAgeH         = 72
)

// SiteTarget is the service-like target of a site's Web Services: its URL and token, the
// delivery settings above and the default circuit breaker.
func SiteTarget(site *mih.Site) *mih.Service {
	svc := mih.NewService()
	svc.Name = mih.SiteService(site.Name)
	svc.Type = mih.ServiceMoodle
	svc.BaseURL = site.URL
	svc.Auth = mih.Auth{Type: mih.AuthBearer, Token: site.Token}
	svc.TimeoutS = SiteTimeoutS
	svc.MaxRetries = SiteMaxRetries
	svc.InitialBackoffS = SiteInitialBackoffS
	svc.MaxBackoffS = SiteMaxBackoffS
	svc.MaxAgeH = SiteMaxAgeH
	svc.CreatedAt, svc.UpdatedAt = site.CreatedAt, site.UpdatedAt
	return svc
}
