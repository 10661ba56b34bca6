package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/eventdesk/eventdesk"
)

// TestCheckpointRestartsWAL checks that, with the writer never
// checkpointing inside a commit, the background checkpointer still keeps
// the WAL from growing: it copies the WAL into the file and has the writer
// start it over, again and again.
func TestCheckpointRestartsWAL(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Small thresholds, so that a few hundred appends go through many
	// cycles (set before the first append: the writer is idle).
	db.ckpt.passEvery, db.ckpt.restartAt = 16, 64
	data := json.RawMessage(`{"title":"Printer on fire","description":"It is the third floor printer again."}`)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				id := fmt.Sprintf("0195f2d4-7a1c-7000-8%03d-%012d", g, i)
				if _, err := db.Append(context.Background(), "ticket-"+id, eventdesk.NoStream,
					eventdesk.EventData{ID: id, Type: "ticket.created", Schema: 2, Data: data}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st, err := os.Stat(db.file + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	written := db.ckpt.frames.Load()
	t.Logf("WAL of %d bytes; %d frames written in %d commits, %d passes", st.Size(), written, db.Stats().Commits, db.ckpt.passes.Load())
	// Without restarts the WAL would hold every frame written (4 KiB
	// each); the file keeps the size of its longest cycle.
	if frames := st.Size() / 4120; frames > written/2 {
		t.Errorf("the WAL holds %d frames of the %d written: it does not restart", frames, written)
	}
	if db.ckpt.passes.Load() == 0 {
		t.Error("no background checkpoint ran")
	}
	rep, err := db.Verify(context.Background(), nil)
	if err != nil || !rep.OK() || rep.Events != 480 {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}
