package csbosb

import (
	"context"
	"log/slog"
)

// quietHandler passes brokerapi's log records one level down: brokerapi
// logs every refused request (a 4xx the platform caused) at error level
// and every request at info level; in Caddy's log they are info and
// debug, as Caddy logs its own handled requests.
type quietHandler struct{ h slog.Handler }

func demote(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelError:
		return slog.LevelInfo
	case l >= slog.LevelInfo:
		return slog.LevelDebug
	}
	return l
}

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return q.h.Enabled(ctx, demote(l))
}

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler { return quietHandler{q.h.WithAttrs(as)} }

func (q quietHandler) WithGroup(name string) slog.Handler { return quietHandler{q.h.WithGroup(name)} }
