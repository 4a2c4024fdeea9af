package enrich

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// SiteStore is where SiteLookups reads the sites.
type SiteStore interface {
	FindSiteByName(ctx context.Context, name string) (*mih.Site, error)
	FindSites(ctx context.Context) ([]*mih.Site, error)
}

// SiteLookups keeps one Lookup per site, made by a factory (a moodle.Directory over the site's
// URL and token) and made again when the site changes, so that a new token takes effect and the
// cache of each site lives as long as its settings.
type SiteLookups struct {
	store   SiteStore
	factory func(*mih.Site) (Lookup, error)

	mu    sync.Mutex
	sites map[string]siteLookup
}

type siteLookup struct {
	updated time.Time
	lookup  Lookup
}

// NewSiteLookups returns Sites over store.
func NewSiteLookups(store SiteStore, factory func(*mih.Site) (Lookup, error)) *SiteLookups {
	return &SiteLookups{store: store, factory: factory, sites: map[string]siteLookup{}}
}

// Lookup returns the Lookup of a site. An empty name means the only site there is: events posted
// without a site can be enriched when the hub serves one Moodle. A site without a Web Services
// token cannot be looked up in (CodeInvalid); an unknown site is CodeNotFound.
func (s *SiteLookups) Lookup(ctx context.Context, name string) (Lookup, error) {
	site, err := s.Site(ctx, name)
	if err != nil {
		return nil, err
	}
	if site.Token == "" {
		return nil, mih.Errorf(mih.CodeInvalid, "site %s has no Web Services token to look up users and courses with", site.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.sites[site.Name]; ok && l.updated.Equal(site.UpdatedAt) {
		return l.lookup, nil
	}
	lk, err := s.factory(site)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", site.Name, err)
	}
	s.sites[site.Name] = siteLookup{updated: site.UpdatedAt, lookup: lk}
	return lk, nil
}

// Site returns the named site, or the only site there is for an empty name (CodeNotFound when
// there is none or several).
func (s *SiteLookups) Site(ctx context.Context, name string) (*mih.Site, error) {
	if name != "" {
		return s.store.FindSiteByName(ctx, name)
	}
	sites, err := s.store.FindSites(ctx)
	if err != nil {
		return nil, err
	}
	if len(sites) != 1 {
		return nil, mih.Errorf(mih.CodeNotFound, "the event names no site, and %d sites are configured: send events with their site to enrich them", len(sites))
	}
	return sites[0], nil
}

// Forget drops the cached lookup of a site (changed or deleted), so that the next lookup builds
// it from the site's stored settings.
func (s *SiteLookups) Forget(name string) {
	s.mu.Lock()
	delete(s.sites, name)
	s.mu.Unlock()
}
