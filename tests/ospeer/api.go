package ospeer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

var client = &http.Client{Timeout: 60 * time.Second}

// call sends a JSON request with token (if any) and decodes a JSON answer
// into out (if not nil). It returns the answer's status and headers; an
// answer outside 2xx is an error carrying the body.
func call(ctx context.Context, token, method, url string, body, out any, hdr map[string]string) (int, http.Header, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %v: %s", method, url, err, data)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// passwordToken asks Keystone for a token of user (domain Default) scoped
// to project (domain Default), or unscoped when project is "".
func passwordToken(ctx context.Context, authURL, user, password, project string) (string, error) {
	auth := map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": user, "domain": map[string]string{"id": "default"}, "password": password,
			}},
		},
	}
	if project != "" {
		auth["scope"] = map[string]any{"project": map[string]any{"name": project, "domain": map[string]string{"id": "default"}}}
	}
	_, h, err := call(ctx, "", http.MethodPost, authURL+"/auth/tokens", map[string]any{"auth": auth}, nil, nil)
	if err != nil {
		return "", err
	}
	tok := h.Get("X-Subject-Token")
	if tok == "" {
		return "", errNoToken
	}
	return tok, nil
}

// adminToken caches the admin's token (scoped to project admin).
type adminToken struct {
	mu  sync.Mutex
	tok string
	at  time.Time
}

var admins sync.Map // *OpenStack → *adminToken

// AdminToken returns a token of the cloud's admin, scoped to project
// admin, valid for at least half an hour.
func (o *OpenStack) AdminToken(ctx context.Context) (string, error) {
	v, _ := admins.LoadOrStore(o, &adminToken{})
	a := v.(*adminToken)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != "" && time.Since(a.at) < 30*time.Minute {
		return a.tok, nil
	}
	tok, err := passwordToken(ctx, o.AuthURL, AdminUser, AdminPassword, AdminProject)
	if err != nil {
		return "", err
	}
	a.tok, a.at = tok, time.Now()
	return tok, nil
}

// Admin sends a JSON request to url as the cloud's admin and decodes the
// answer into out (if not nil). hdr adds headers (a microversion). It
// returns the answer's HTTP status; an answer outside 2xx is also an
// error carrying its body.
func (o *OpenStack) Admin(ctx context.Context, method, url string, body, out any, hdr map[string]string) (int, error) {
	tok, err := o.AdminToken(ctx)
	if err != nil {
		return 0, err
	}
	st, _, err := call(ctx, tok, method, url, body, out, hdr)
	return st, err
}

// Token returns a token of the broker user scoped to project (its name),
// as a client of the broker's would get it.
func (o *OpenStack) Token(ctx context.Context, project string) (string, error) {
	return passwordToken(ctx, o.AuthURL, BrokerUser, BrokerPassword, project)
}

// Revoke revokes a token (DELETE /v3/auth/tokens): Keystone refuses it
// from then on, everywhere it is validated.
func (o *OpenStack) Revoke(ctx context.Context, token string) error {
	tok, err := o.AdminToken(ctx)
	if err != nil {
		return err
	}
	_, _, err = call(ctx, tok, http.MethodDelete, o.AuthURL+"/auth/tokens", nil, nil, map[string]string{"X-Subject-Token": token})
	return err
}

// Server is what tests read of a Nova server.
type Server struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Metadata map[string]string `json:"metadata"`
	Flavor   struct {
		ID           string `json:"id"`
		OriginalName string `json:"original_name"`
	} `json:"flavor"`
	TaskState string `json:"OS-EXT-STS:task_state"`
}

// microversion names the Compute API version the helpers speak: 2.47
// shows a server's flavor by name (original_name).
var microversion = map[string]string{"OpenStack-API-Version": "compute 2.47", "X-OpenStack-Nova-API-Version": "2.47"}

// GetServer reads a server as the admin; the status is 404 when Nova has
// no such server.
func (o *OpenStack) GetServer(ctx context.Context, id string) (*Server, int, error) {
	var out struct {
		Server Server `json:"server"`
	}
	st, err := o.Admin(ctx, http.MethodGet, o.ComputeURL+"/servers/"+id, nil, &out, microversion)
	if err != nil {
		return nil, st, err
	}
	return &out.Server, st, nil
}

// Servers lists the servers of every project (as the admin).
func (o *OpenStack) Servers(ctx context.Context) ([]Server, error) {
	var out struct {
		Servers []Server `json:"servers"`
	}
	_, err := o.Admin(ctx, http.MethodGet, o.ComputeURL+"/servers/detail?all_tenants=1", nil, &out, microversion)
	return out.Servers, err
}

// Call sends a JSON request with token and decodes the answer into out
// (if not nil); an answer outside 2xx is an error carrying its body.
func Call(ctx context.Context, token, method, url string, body, out any) error {
	_, _, err := call(ctx, token, method, url, body, out, nil)
	return err
}
