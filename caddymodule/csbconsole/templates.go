package csbconsole

// The embedded templates and static files.

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

//go:embed templates/*.html static/*
var files embed.FS

// pages is the names of the page templates; each is rendered inside
// templates/layout.html.
var pageNames = []string{"catalogue", "jobs", "job", "new", "operator"}

// pageSet holds one parsed template per page.
type pageSet struct {
	pages map[string]*template.Template
}

var funcs = template.FuncMap{
	// when writes a time for people, in a span that wide screens keep on
	// one line.
	"when": func(t time.Time) template.HTML {
		if t.IsZero() {
			return "never"
		}
		return template.HTML(`<span class="when">` + template.HTMLEscapeString(t.UTC().Format("2006-01-02 15:04:05 UTC")) + `</span>`)
	},
	"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	// dict builds a map from name/value pairs, for sub-templates.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func parsePages() (*pageSet, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		ps.pages[name] = t
	}
	return ps, nil
}

// render writes page name with status; a template that fails is a 500
// before anything is written.
func (ps *pageSet) render(w http.ResponseWriter, status int, name string, p *page) error {
	t := ps.pages[name]
	if t == nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("csb_console: no page %q", name))
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("csb_console: rendering %s: %v", name, err))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// serveStatic serves the style sheet and the script.
func serveStatic(w http.ResponseWriter, r *http.Request, name string) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddyhttp.Error(http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on static files", r.Method))
	}
	if name == "" || strings.Contains(name, "/") {
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no static file %q", name))
	}
	data, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		return caddyhttp.Error(http.StatusNotFound, fmt.Errorf("no static file %q", name))
	}
	w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(data)
	return err
}
