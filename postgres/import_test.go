package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/internal/testenv"
	"github.com/eventdesk/eventdesk/postgres"
)

// TestImportRoundTrip copies one store into another through an Importer,
// in batches, and checks that the copy is the same log, verifies, keeps
// idempotency keys, and takes appends after it.
func TestImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := open(t, testenv.Postgres(t), postgres.Options{})
	keyed := ev("a", `{"k":1}`)
	keyed.Metadata = eventdesk.Metadata{IdempotencyKey: "k1", RequestHash: "h"}
	first, err := src.Append(ctx, "s1", eventdesk.NoStream, keyed, ev("b", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := src.Append(ctx, []string{"s1", "s2", "s3"}[i%3], eventdesk.AnyVersion, ev("c", `{"i":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := src.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	dst := open(t, testenv.Postgres(t), postgres.Options{})
	im, err := dst.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(all); i += 7 {
		if err := im.Write(ctx, all[i:min(i+7, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := im.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := dst.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("%d events imported, want %d", len(got), len(all))
	}
	for i := range got {
		a, b := got[i], all[i]
		if a.ID != b.ID || a.Position != b.Position || a.Hash != b.Hash || !bytes.Equal(a.Data, b.Data) || !a.RecordedAt.Equal(b.RecordedAt) || a.Metadata != b.Metadata {
			t.Fatalf("event %d differs:\n got %+v\nwant %+v", i, a, b)
		}
	}
	rep, err := dst.Verify(ctx, nil)
	if err != nil || !rep.OK() || rep.Events != int64(len(all)) {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	_, err = dst.Append(ctx, "s1", eventdesk.AnyVersion, keyed)
	var dup *eventdesk.DuplicateAppendError
	if !errors.As(err, &dup) || dup.Result != first {
		t.Fatalf("idempotency key after import: %v, want duplicate of %+v", err, first)
	}
	res, err := dst.Append(ctx, "s2", eventdesk.AnyVersion, ev("d", `{}`))
	if err != nil || res.Position != int64(len(all)+1) {
		t.Fatalf("append after import: %+v, %v", res, err)
	}
	// The store now holds appended events: no more imports.
	if _, err := dst.BeginImport(ctx); eventdesk.ErrorCode(err) != eventdesk.EConflict {
		t.Fatalf("import into a used store: %v", err)
	}
}

func TestImportRejectsAndRollsBack(t *testing.T) {
	ctx := context.Background()
	src := open(t, testenv.Postgres(t), postgres.Options{})
	for range 5 {
		if _, err := src.Append(ctx, "s", eventdesk.AnyVersion, ev("a", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := src.ReadAll(ctx, 0, 0)
	dst := open(t, testenv.Postgres(t), postgres.Options{})
	tampered := append([]eventdesk.Event(nil), all...)
	tampered[3].Data = []byte(`{"evil":true}`)
	skipped := append(append([]eventdesk.Event(nil), all[:2]...), all[3:]...)
	for name, evs := range map[string][]eventdesk.Event{"tampered": tampered, "gap": skipped} {
		im, err := dst.BeginImport(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := im.Write(ctx, evs); eventdesk.ErrorCode(err) != eventdesk.EInvalid {
			t.Errorf("%s: %v, want invalid", name, err)
		}
		if err := im.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if h, _ := dst.Head(ctx); h != 0 {
			t.Fatalf("%s: head %d after a rolled back import", name, h)
		}
	}
}

func TestSecretSharedByNodes(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t)
	a, err := open(t, dsn, postgres.Options{}).Secret(ctx, "session", 32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(t, dsn, postgres.Options{}).Secret(ctx, "session", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Fatalf("secrets differ: %x %x", a, b)
	}
}
