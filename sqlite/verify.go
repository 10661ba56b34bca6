package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/verify"
)

// Verify checks the whole event store and reports every break it finds
// (the checks themselves are package verify's, shared by all adapters):
//
//  1. PRAGMA quick_check: SQLite's own structural check of the file;
//  2. in position order: positions run 1, 2, 3… without a gap;
//  3. in (stream, version) order: each stream's versions run 1, 2, 3… and
//     each event's hash is ChainHash of the previous one.
//
// Reading streams one after the other keeps memory bounded however many
// streams there are. progress, if not nil, is called after each page with
// the events checked so far over both passes, out of twice the number of
// events. The error is for failing to read; breaks go in the report.
// Appends may run meanwhile: the passes check what was committed when
// Verify started.
func (s *EventStore) Verify(ctx context.Context, progress func(done, total int64)) (verify.Report, error) {
	var rep verify.Report
	if err := s.usable(ctx); err != nil {
		return rep, fmt.Errorf("sqlite: verify: %w", err)
	}
	fail := func(err error) (verify.Report, error) { return rep, fmt.Errorf("sqlite: verify %s: %w", s.file, err) }

	problems, err := quickCheck(ctx, s.rdb)
	if err != nil {
		return fail(fmt.Errorf("quick_check: %w", err))
	}
	for _, p := range problems {
		rep.Add(verify.Break{Kind: verify.KindStorage, Message: "PRAGMA quick_check: " + p})
	}

	head := s.head.Load()
	var count int64
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE position <= ?", head).Scan(&count); err != nil {
		return fail(err)
	}
	total := 2 * count
	var done int64
	report := func() {
		if progress != nil {
			progress(done, total)
		}
	}

	const page = 5000
	var pos verify.Positions
	for after := int64(0); ; {
		rows, err := s.rdb.QueryContext(ctx, "SELECT position, id, stream, version FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?", after, head, page)
		if err != nil {
			return fail(err)
		}
		n := 0
		for rows.Next() {
			var e eventdesk.Event
			if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version); err != nil {
				rows.Close()
				return fail(err)
			}
			if b, ok := pos.Check(e); !ok {
				rep.Add(b)
			}
			after = e.Position
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(err)
		}
		rep.Events += int64(n)
		done += int64(n)
		report()
		if n < page {
			break
		}
	}
	if last := pos.Last(); last != head {
		rep.Add(verify.Break{Kind: verify.KindPosition, Position: head, Message: fmt.Sprintf("the last position is %d, the writer's head is %d", last, head)})
	}
	rep.LastPosition = pos.Last()

	chains := verify.NewChains()
	stream, version := "", int64(0)
	for {
		rows, err := s.rdb.QueryContext(ctx, "SELECT "+eventColumns+" FROM events WHERE (stream, version) > (?, ?) AND position <= ? ORDER BY stream, version LIMIT ?", stream, version, head, page)
		if err != nil {
			return fail(err)
		}
		n := 0
		for rows.Next() {
			e, err := scanEvent(rows)
			if errors.Is(err, errBadMetadata) {
				rep.Add(verify.Break{Kind: verify.KindHash, Position: e.Position, Stream: e.Stream, Version: e.Version, EventID: e.ID, Message: "its metadata is not valid JSON: the row was altered"})
				err = nil
			}
			if err != nil {
				rows.Close()
				return fail(err)
			}
			if e.Stream != stream {
				chains.Forget(stream)
			}
			for _, b := range chains.Check(e) {
				rep.Add(b)
			}
			stream, version = e.Stream, e.Version
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fail(err)
		}
		done += int64(n)
		report()
		if n < page {
			break
		}
	}
	rep.Streams = chains.Streams()
	return rep, nil
}
