package objstore

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/caddy-csb/caddy-csb/broker/contract"
)

// fakeContainer holds objects; arriving are objects that show up after
// each delete attempt, as an owner's uploads through the proxy would.
type fakeContainer struct {
	objects  []string
	arriving [][]string
	gone     bool
	deletes  int
	deleted  []string
}

var errNotEmpty = errors.New("not empty")

func (f *fakeContainer) DeleteObject(_ context.Context, name string) error {
	f.deleted = append(f.deleted, name)
	f.objects = slices.DeleteFunc(f.objects, func(o string) bool { return o == name })
	return nil
}

func (f *fakeContainer) EachObject(ctx context.Context, fn func(string) error) (bool, error) {
	if f.gone {
		return true, nil
	}
	for _, o := range slices.Clone(f.objects) {
		if err := fn(o); err != nil {
			return false, err
		}
	}
	return false, nil
}

func (f *fakeContainer) Delete(context.Context) (bool, error) {
	f.deletes++
	if len(f.arriving) > 0 {
		f.objects = append(f.objects, f.arriving[0]...)
		f.arriving = f.arriving[1:]
	}
	if len(f.objects) > 0 {
		return true, errNotEmpty
	}
	f.gone = true
	return false, nil
}

// open opens f, whatever the name.
func open(f *fakeContainer) func(string) (Container, error) {
	return func(string) (Container, error) { return f, nil }
}

func TestRemove(t *testing.T) {
	ctx := context.Background()

	// Not the job's container: only its object goes.
	f := &fakeContainer{objects: []string{"data", "theirs"}}
	if err := Remove(ctx, "c", false, "data", open(f)); err != nil || !slices.Equal(f.objects, []string{"theirs"}) || f.deletes != 0 {
		t.Errorf("foreign container: err %v, left %v, %d deletes", err, f.objects, f.deletes)
	}
	if err := Remove(ctx, "c", false, "", open(f)); err != nil || len(f.deleted) != 1 {
		t.Errorf("foreign container, no object: err %v, deleted %v", err, f.deleted)
	}

	// The job's container: emptied and deleted, again while objects arrive.
	f = &fakeContainer{objects: []string{"a", "b"}, arriving: [][]string{{"c"}}}
	if err := Remove(ctx, "c", true, "a", open(f)); err != nil || !f.gone || f.deletes != 2 || !slices.Equal(f.deleted, []string{"a", "b", "c"}) {
		t.Errorf("own container: err %v, gone %v, %d deletes, deleted %v", err, f.gone, f.deletes, f.deleted)
	}

	// Objects keep arriving: three attempts, then the store's refusal.
	f = &fakeContainer{arriving: [][]string{{"x"}, {"y"}, {"z"}, {"w"}}}
	if err := Remove(ctx, "c", true, "", open(f)); !errors.Is(err, errNotEmpty) || f.deletes != 3 {
		t.Errorf("busy container: err %v after %d deletes", err, f.deletes)
	}

	// No container: nothing to open.
	opened := false
	if err := Remove(ctx, "", true, "", func(string) (Container, error) { opened = true; return nil, errors.New("opened") }); err != nil || opened {
		t.Errorf("no container: err %v, opened %v", err, opened)
	}

	// Already gone: done.
	f = &fakeContainer{gone: true}
	if err := Remove(ctx, "c", true, "", open(f)); err != nil || f.deletes != 0 {
		t.Errorf("gone container: err %v, %d deletes", err, f.deletes)
	}
}

func TestStatedAndDataObject(t *testing.T) {
	res := &contract.Resource{Native: map[string]string{}}
	if out := Stated(res, false); out.State != contract.StateGone || out.Granted.DSaaS == nil {
		t.Errorf("missing container: %+v", out)
	}
	if out := Stated(res, true); out.State != contract.StateReady {
		t.Errorf("container: %s", out.State)
	}
	res.Native[contract.NativeIncomplete] = "true"
	if out := Stated(res, true); out.State != contract.StateFailed {
		t.Errorf("incomplete job: %s", out.State)
	}

	do := DataObject("u/c/o", "o", "u/c", nil)
	if *do.Status != Missing || do.Mimetype != nil || *do.ObjectURI != "u/c/o" || *do.ParentURI != "u/c" || *do.ObjectID != "o" {
		t.Errorf("missing object: %+v", do)
	}
	do = DataObject("u/c/o", "o", "u/c", &Head{Mimetype: s("text/csv"), Meta: map[string]string{"k": "v"}})
	if *do.Status != Available || *do.Mimetype != "text/csv" || do.Metadata == nil || *do.Metadata == "" {
		t.Errorf("object: %+v", do)
	}
	if do := DataObject("u", "o", "p", &Head{}); do.Metadata != nil || do.Mimetype != nil {
		t.Errorf("object without type or metadata: %+v", do)
	}
}
