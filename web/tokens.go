package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

type tokenListData struct {
	Tokens []*mih.Token
	Scopes []string
	// Created is a token just made: shown on this one page, never again (only its hash is kept).
	Created *createdToken
	Name    string
	Scope   string
	Error   string
}

type createdToken struct {
	Name, Scope, Value string
}

// tokenList shows the API tokens: name, scope, creation and last use; never a token.
func (h *Handler) tokenList(w http.ResponseWriter, r *http.Request) error {
	return h.renderTokens(w, r, http.StatusOK, tokenListData{Scope: mih.ScopeIngest})
}

func (h *Handler) renderTokens(w http.ResponseWriter, r *http.Request, status int, d tokenListData) error {
	toks, err := h.store.FindTokens(r.Context())
	if err != nil {
		return err
	}
	d.Tokens, d.Scopes = toks, mih.TokenScopes()
	return h.render(w, r, status, "tokens", "API tokens", "tokens", d)
}

// tokenCreate makes a token and shows it once, on the answer to the form; the page is not
// stored anywhere and a reload does not show it again (the answer is not cached).
func (h *Handler) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	t := &mih.Token{Name: strings.TrimSpace(r.PostFormValue("name")), Scope: r.PostFormValue("scope")}
	d := tokenListData{Name: t.Name, Scope: t.Scope}
	if err := t.Validate(); err != nil {
		d.Error = mih.ErrorMessage(err)
		return h.renderTokens(w, r, http.StatusBadRequest, d)
	}
	raw := secret.NewToken()
	t.Hash = secret.HashToken(raw)
	if err := h.store.CreateToken(r.Context(), t); err != nil {
		if c := mih.ErrorCode(err); c == mih.CodeConflict || c == mih.CodeInvalid {
			d.Error = mih.ErrorMessage(err)
			return h.renderTokens(w, r, http.StatusBadRequest, d)
		}
		return err
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "API token created", slog.String("name", t.Name), slog.String("scope", t.Scope))
	w.Header().Set("Cache-Control", "no-store")
	return h.renderTokens(w, r, http.StatusOK, tokenListData{Created: &createdToken{Name: t.Name, Scope: t.Scope, Value: raw}, Scope: mih.ScopeIngest})
}

// tokenRevoke deletes a token: requests with it fail from the next one on.
func (h *Handler) tokenRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return mih.Errorf(mih.CodeNotFound, "token %q not found", r.PathValue("id"))
	}
	if err := h.store.DeleteToken(r.Context(), id); err != nil {
		return err
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "API token revoked", slog.Int64("id", id))
	return h.redirect(w, r, "/tokens", "ok", "Token %d revoked.", id)
}
