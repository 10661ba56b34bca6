package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/eventdesk/eventdesk"
	"github.com/eventdesk/eventdesk/app"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestBrowser drives the UI in Debian's Chromium against a real server (a
// real SQLite data directory, the projections running): the whole life of
// a ticket, live updates between two people, a stale form, XSS payloads in
// every text field, what a requester may not see, axe-core on every main
// page, and screenshots under test-output/screenshots.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are slow; skipped with -short")
	}
	e := newEnv(t)
	seedHistory(t, e, 30, 5)
	b := newBrowser(t)

	t.Run("SignIn", func(t *testing.T) {
		tb := b.tab(t, e.URL, "visitor")
		if st := tb.open("/tickets"); st != http.StatusOK {
			t.Fatalf("anonymous /tickets: landed with status %d", st)
		}
		if !strings.HasSuffix(evaluate[string](tb, "location.pathname"), "/signin") {
			t.Fatal("an anonymous visitor was not sent to sign in")
		}
		tb.screenshot("signin")
		tb.axe("sign-in")
		// The browser enforces the policy: a script or style put into the
		// page (as an injection would) neither runs nor applies, and the
		// recorder that cspClean reads sees it.
		evaluate[chromedp.Void](tb, `(() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1"; document.body.append(s);
			const st = document.createElement("style"); st.textContent = "body { display: none }"; document.head.append(st);
			const d = document.createElement("div"); d.setAttribute("style", "display: none"); d.id = "styled"; document.body.append(d) })()`)
		tb.waitFor("the blocked script and styles to be reported", `window.__csp.length >= 3`)
		if evaluate[bool](tb, `window.__ran === 1 || getComputedStyle(document.body).display === "none" || getComputedStyle(document.getElementById("styled")).display === "none"`) {
			t.Error("an inline script or style was applied despite the Content-Security-Policy")
		}
		tb.open("/signin")
		tb.cspClean("sign-in, reloaded")
		tb.signin("alice", "agent")
		if got := tb.text(".who"); !strings.Contains(got, "alice") || !strings.Contains(strings.ToLower(got), "agent") {
			t.Errorf("header shows %q, want the user and role", got)
		}
		if path := evaluate[string](tb, "location.pathname + location.search"); path != "/tickets" {
			t.Errorf("after sign-in at %s, want the ticket list where they came from", path)
		}
		// Sign out, and the pages are closed again.
		if st := tb.submit(`form[action="/signout"] button`); st != http.StatusOK {
			t.Fatalf("sign out: %d", st)
		}
		mustContain(t, tb.text("main"), "You have signed out.")
		tb.open("/tickets")
		if !strings.HasSuffix(evaluate[string](tb, "location.pathname"), "/signin") {
			t.Error("after signing out, the ticket list is still open")
		}
	})

	t.Run("TicketLifecycle", func(t *testing.T) {
		ag := b.tab(t, e.URL, "alice")
		ag.signin("alice", "agent")
		ag.screenshot("list")
		ag.axe("ticket list")
		ag.open("/tickets/new")
		ag.axe("new ticket")
		// Mistakes are said next to the fields, and what was typed stays.
		ag.fill("#description", "It jams on every second page.")
		ag.fill("#tags", "hardware, floor 3!")
		if st := ag.submit(`form[action="/tickets"] button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("empty title: page status %d, want 422", st)
		}
		mustContain(t, ag.text("#title-error"), "Must not be empty.")
		mustContain(t, ag.text("#tags-error"), "may contain only letters")
		ag.screenshot("new-errors")
		ag.axe("new ticket with errors")
		ag.typeIn("#title", "Printer on floor 3 jams")
		ag.fill("#description", "It jams on every second page.\nTried a new paper tray.")
		ag.fill("#tags", "hardware, floor-3")
		ag.fill("#requester", "rita")
		ag.screenshot("new")
		if st := ag.submit(`form[action="/tickets"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("open ticket: page status %d", st)
		}
		mustContain(t, ag.text("main"), "Ticket created.", "Printer on floor 3 jams", "It jams on every second page.")
		ticketPath := evaluate[string](ag, "location.pathname")

		// A public reply, then an internal note.
		ag.fill("#body", "Thanks Rita, I am on my way with a new roller.")
		if st := ag.submit(`form.reply button[type=submit]`); st != http.StatusOK {
			t.Fatalf("reply: %d", st)
		}
		mustContain(t, ag.text("main"), "Reply sent.", "I am on my way with a new roller.")
		ag.fill("#body", "Roller part number 44-1187, two left in stock.")
		ag.do("choose internal", chromedp.Click(chromedp.CSS(`input[name=visibility][value=internal]`), chromedp.NodeVisible))
		if st := ag.submit(`form.reply button[type=submit]`); st != http.StatusOK {
			t.Fatalf("internal note: %d", st)
		}
		if n := evaluate[int](ag, `document.querySelectorAll(".comment.internal .internal-label").length`); n != 1 {
			t.Errorf("%d internal notes marked, want 1", n)
		}

		// Status: only the transitions the domain allows are offered.
		opts := evaluate[[]string](ag, `[...document.querySelectorAll("#p-status option")].map(o => o.value)`)
		if strings.Join(opts, ",") != "open,pending,resolved,closed" {
			t.Errorf("status options of an open ticket: %v", opts)
		}
		ag.fill("#p-status", "pending")
		ag.fill("#p-priority", "high")
		if st := ag.submit(`form.props button[type=submit]`); st != http.StatusOK {
			t.Fatalf("update: %d", st)
		}
		mustContain(t, ag.text("main"), "Changes saved.")
		mustContain(t, ag.text(".ticket-sub"), "Pending", "High")
		ag.screenshot("ticket-agent")
		ag.axe("ticket page")

		// History, then back in time to the ticket as it was opened.
		if st := ag.submit(`a[href$="/history"]`); st != http.StatusOK {
			t.Fatalf("history: %d", st)
		}
		// Every event says who and when.
		if n := evaluate[int](ag, `[...document.querySelectorAll(".timeline > li")].filter(li => !li.querySelector("time[datetime]") || !li.querySelector(".ev-summary").textContent.trim()).length`); n != 0 {
			t.Errorf("%d history entries without a time or a summary", n)
		}
		hist := ag.text(".timeline")
		mustContain(t, hist, "alice opened the ticket", "alice commented", "alice added an internal note", "alice changed status from open to pending", "alice changed priority from normal to high")
		ag.screenshot("history")
		ag.axe("history")
		if st := ag.submit(`.timeline li:last-child a`); st != http.StatusOK {
			t.Fatalf("time travel: %d", st)
		}
		mustContain(t, ag.text(".timetravel"), "version 1 of")
		mustContain(t, ag.text(".ticket-sub"), "New", "Normal")
		if n := evaluate[int](ag, `document.querySelectorAll(".comment, form.props, form.reply").length`); n != 0 {
			t.Errorf("the past shows %d comments or forms, want none", n)
		}
		ag.screenshot("time-travel")
		ag.axe("time travel")
		ag.submit(`.tt-nav a[href*="version=2"]`)
		mustContain(t, ag.text(".timetravel"), "version 2 of")
		mustContain(t, ag.text(".thread"), "I am on my way")
		ag.submit(`.tt-nav a.btn-primary`)
		if path := evaluate[string](ag, "location.pathname + location.search"); path != ticketPath {
			t.Errorf("back to now went to %s", path)
		}
	})

	t.Run("Keyboard", func(t *testing.T) {
		// Sign in, open a ticket and reply with the keyboard alone; the
		// focused element is always visibly marked.
		k := b.tab(t, e.URL, "keyboard")
		k.open("/signin")
		k.tabTo("a.skip")
		if !evaluate[bool](k, `(r => r.top >= 0 && r.bottom <= innerHeight && r.height > 0)(document.activeElement.getBoundingClientRect())`) {
			t.Error("the skip link stays off screen when focused")
		}
		k.tabTo("#user")
		k.do("type the name", chromedp.KeyEvent("kim"))
		k.tabTo(`input[name=role]`)
		// Arrow keys move through a radio group: requester → agent.
		k.key(kb.ArrowDown)
		if v := evaluate[string](k, `document.querySelector("input[name=role]:checked").value`); v != "agent" {
			t.Fatalf("the arrow key chose %q", v)
		}
		k.tabTo(`form:has(input[value=demo]) button[type=submit]`)
		focusVisible(k, "the sign-in button")
		k.key(kb.Enter)
		k.waitFor("the ticket list", `location.pathname === "/tickets" && document.querySelector(".who-name")`)
		mustContain(t, evaluate[string](k, `document.querySelector(".who").textContent`), "kim", "agent")
		// The skip link takes the keyboard past the header.
		k.tabTo("a.skip")
		k.key(kb.Enter)
		if !evaluate[bool](k, `location.hash === "#main" && document.activeElement === document.getElementById("main")`) {
			t.Error("the skip link does not move the focus to the main content")
		}
		k.tabTo(`main a[href="/tickets/new"]`)
		focusVisible(k, "the New ticket link")
		k.key(kb.Enter)
		k.waitFor("the new ticket form", `location.pathname === "/tickets/new" && document.activeElement && document.activeElement.id === "title"`)
		k.do("type the title", chromedp.KeyEvent("Typed without a mouse"))
		k.tabTo("#description")
		k.do("type the description", chromedp.KeyEvent("Only Tab and Enter."))
		k.tabTo(`form[action="/tickets"] button[type=submit]`)
		focusVisible(k, "the Open ticket button")
		k.key(kb.Enter)
		k.waitFor("the new ticket", `document.querySelector(".ticket-head h1") && document.querySelector(".ticket-head h1").innerText === "Typed without a mouse"`)
		k.tabTo("#body")
		focusVisible(k, "the reply field")
		k.do("type the reply", chromedp.KeyEvent("A reply by keyboard."))
		k.tabTo("form.reply button[type=submit]")
		k.key(kb.Enter)
		k.waitFor("the reply", `document.querySelector(".thread") && document.querySelector(".thread").innerText.includes("A reply by keyboard.")`)
		// The status select, changed with the arrow keys.
		k.tabTo("#p-status")
		focusVisible(k, "the status select")
		k.cspClean("keyboard pages")
	})

	t.Run("LiveUpdates", func(t *testing.T) {
		id := openViaApp(t, e, "rita", "Screen stays black after docking")
		a := b.tab(t, e.URL, "alice")
		a.signin("alice", "agent")
		// The "Active" tab, most recently updated first.
		const filters = "?status=new&status=open&status=pending&sort=-updated"
		a.open("/tickets" + filters)
		a.waitFor("the ticket in the list", `document.querySelector('tr[data-id="`+id+`"]')`)
		// Marks that a reload would wipe out: a flag, the scroll position
		// and a filter typed but not applied yet.
		evaluate[chromedp.Void](a, `window.__noReload = true; window.scrollTo(0, 120)`)
		a.fill("#f-tag", "half-typed")
		scroll := evaluate[float64](a, "window.scrollY")
		if scroll != 120 {
			t.Fatalf("the list cannot scroll (scrollY %v): the test would prove nothing", scroll)
		}

		bob := b.tab(t, e.URL, "bob")
		bob.signin("bob", "agent")
		bob.open("/tickets/" + id)
		bob.fill("#p-status", "pending")
		bob.fill("#p-assignee", "bob")
		if st := bob.submit(`form.props button[type=submit]`); st != http.StatusOK {
			t.Fatalf("bob's update: %d", st)
		}
		a.waitFor("the row to show bob's change", `(() => { const r = document.querySelector('tr[data-id="`+id+`"]'); return r && r.innerText.includes("Pending") && r.innerText.includes("bob") })()`)
		if !evaluate[bool](a, "window.__noReload === true") {
			t.Error("the list reloaded the page instead of updating in place")
		}
		if got := evaluate[float64](a, "window.scrollY"); got != scroll {
			t.Errorf("scroll moved from %v to %v", scroll, got)
		}
		// A ticket opened by someone else appears; one that leaves the
		// filter (resolved) goes.
		fresh := openViaApp(t, e, "uma", "Headset crackles")
		a.waitFor("the new ticket in the list", `document.querySelector('tr[data-id="`+fresh+`"]')`)
		resolved := eventdesk.StatusResolved
		if _, err := e.App.UpdateTicket.Handle(as("bob", eventdesk.RoleAgent), app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Status: &resolved}}); err != nil {
			t.Fatal(err)
		}
		a.waitFor("the resolved ticket to leave the Active list", `!document.querySelector('tr[data-id="`+id+`"]')`)
		if !evaluate[bool](a, "window.__noReload === true") {
			t.Error("the list reloaded the page instead of updating in place")
		}
		if got := evaluate[float64](a, "window.scrollY"); got != scroll {
			t.Errorf("scroll moved from %v to %v", scroll, got)
		}
		if q := evaluate[string](a, "location.search"); q != filters {
			t.Errorf("the filters changed to %q", q)
		}
		if v := evaluate[string](a, `document.getElementById("f-tag").value`); v != "half-typed" {
			t.Errorf("the filter being typed was replaced by %q", v)
		}
		if n := evaluate[int](a, `document.querySelectorAll('#ticket-rows .badge.st-resolved, #ticket-rows .badge.st-closed').length`); n != 0 {
			t.Errorf("the Active list shows %d resolved or closed tickets after the updates", n)
		}
		// The status counts follow too.
		a.waitFor("the Resolved count to match the store", `(() => { const a = [...document.querySelectorAll("#status-tabs a")].find(a => a.textContent.startsWith("Resolved")); return a && a.querySelector(".count").textContent === `+jsString(strconv.Itoa(resolvedCount(t, e)))+` })()`)
		bob.open("/tickets/" + id)
		bob.fill("#p-status", "open")
		bob.submit(`form.props button[type=submit]`)

		// An open ticket page tells who changed it, without reloading.
		a.open("/tickets/" + id)
		a.fill("#body", "Half-written reply")
		// The sentiment scorer annotates the ticket first: not news.
		score(t, e, id, -0.3)
		bob.fill("#body", "Could you try another cable?")
		bob.submit(`form.reply button[type=submit]`)
		a.waitFor("the live banner", `!document.getElementById("live-banner").hidden`)
		banner := a.text("#live-banner")
		mustContain(t, banner, "Updated by bob just now: commented.")
		mustNotContain(t, banner, "policy:", "sentiment", "changes since")
		if v := evaluate[string](a, `document.getElementById("body").value`); v != "Half-written reply" {
			t.Errorf("the banner lost what alice typed: %q", v)
		}
		a.screenshot("live-banner")
	})

	t.Run("StaleForm", func(t *testing.T) {
		id := openViaApp(t, e, "sam", "Docking station not charging")
		a := b.tab(t, e.URL, "alice")
		a.signin("alice", "agent")
		a.open("/tickets/" + id)
		// Meanwhile bob raises the priority and answers.
		ctx := as("bob", eventdesk.RoleAgent)
		urgent := eventdesk.PriorityUrgent
		if _, err := e.App.UpdateTicket.Handle(ctx, app.UpdateTicket{ID: id, Edit: eventdesk.EditTicket{Priority: &urgent}}); err != nil {
			t.Fatal(err)
		}
		// alice, on her stale page, assigns herself and moves it on.
		a.fill("#p-status", "pending")
		a.fill("#p-assignee", "alice")
		if st := a.submit(`form.props button[type=submit]`); st != http.StatusConflict {
			t.Fatalf("stale form: status %d, want 409", st)
		}
		main := a.text("main")
		mustContain(t, main, "This ticket changed while you were editing", "bob changed priority from normal to urgent", "Assignee", "alice")
		a.screenshot("conflict")
		a.axe("conflict page")
		tk, err := e.App.Ticket.Handle(ctx, app.GetTicket{ID: id, Version: 2})
		if err != nil || tk.Assignee != "" || tk.Status != eventdesk.StatusNew {
			t.Fatalf("the stale change was applied: %+v, %v", tk, err)
		}
		// The form again keeps bob's priority and alice's changes.
		if p := evaluate[string](a, `document.getElementById("p-priority").value`); p != "urgent" {
			t.Errorf("re-apply form priority = %q, want bob's urgent", p)
		}
		if st := a.submit(`form.reapply button[type=submit]`); st != http.StatusOK {
			t.Fatalf("re-apply: %d", st)
		}
		mustContain(t, a.text("main"), "Changes saved.")
		mustContain(t, a.text(".ticket-sub"), "Pending", "Urgent")
		mustContain(t, a.text(".details"), "alice")

		// A stale reply is kept too.
		a.fill("#body", "Replacing the dock tomorrow.")
		if _, err := e.App.AddComment.Handle(as("sam", eventdesk.RoleRequester), app.AddComment{TicketID: id, Body: "Any news?"}); err != nil {
			t.Fatal(err)
		}
		if st := a.submit(`form.reply button[type=submit]`); st != http.StatusConflict {
			t.Fatalf("stale reply: status %d, want 409", st)
		}
		mustContain(t, a.text("main"), "sam commented", "Any news?")
		if v := evaluate[string](a, `document.getElementById("body").value`); v != "Replacing the dock tomorrow." {
			t.Errorf("the stale reply's text is gone: %q", v)
		}
		if st := a.submit(`form[action$="/comments"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("send stale reply anyway: %d", st)
		}
		mustContain(t, a.text(".thread"), "Any news?", "Replacing the dock tomorrow.")
	})

	t.Run("XSS", func(t *testing.T) {
		const (
			img    = `<img src=x onerror="window.__xss='img'">`
			script = `<script>window.__xss='script'</script>`
			attr   = `" onmouseover="window.__xss='attr'" x="`
			svg    = `'><svg onload=window.__xss='svg'>`
		)
		all := img + " " + script + " " + attr + " " + svg
		a := b.tab(t, e.URL, "alice")
		// The user name: refused, and shown back as text.
		a.open("/signin")
		a.fill("#user", svg)
		a.submit(`form:has(input[value=demo]) button[type=submit]`)
		a.noXSS("sign-in with a hostile name", svg)
		a.open("/signin?next=" + url.QueryEscape(`/"><script>window.__xss='next'</script>`))
		a.noXSS("sign-in with a hostile next", "")
		a.fill("#token", all)
		if st := a.submit(`form:has(input[value=token]) button[type=submit]`); st != http.StatusUnauthorized {
			t.Errorf("hostile token: status %d, want 401", st)
		}
		a.noXSS("sign-in with a hostile token", "")
		a.signin("alice", "agent")

		// Title, description, tags (refused: the message quotes them),
		// assignee (refused) in the new-ticket form.
		a.open("/tickets/new")
		a.fill("#title", "XSS "+all)
		a.fill("#description", all)
		a.fill("#tags", "ok, "+strings.ReplaceAll(img, " ", ""))
		a.fill("#assignee", attr)
		a.fill("#requester", script)
		if st := a.submit(`form[action="/tickets"] button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("hostile tags, assignee and requester: status %d, want 422", st)
		}
		a.noXSS("new ticket with errors", all)
		for sel, want := range map[string]string{"#assignee": attr, "#requester": script, "#tags": "ok, " + strings.ReplaceAll(img, " ", "")} {
			if v := evaluate[string](a, `document.querySelector(`+jsString(sel)+`).value`); v != want {
				t.Errorf("%s holds %q, want the input back", sel, v)
			}
		}
		a.fill("#tags", "ok")
		a.fill("#assignee", "")
		a.fill("#requester", "")
		if st := a.submit(`form[action="/tickets"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("hostile ticket: %d", st)
		}
		a.noXSS("ticket page", "XSS "+all)
		if got := a.text("h1"); got != "XSS "+all {
			t.Errorf("title shown as %q", got)
		}
		// A comment, and an edit of the title.
		a.fill("#body", all)
		a.submit(`form.reply button[type=submit]`)
		a.noXSS("ticket with a hostile comment", all)
		// The assignee and tags of the ticket page (refused, shown back).
		a.fill("#p-assignee", attr)
		a.fill("#p-tags", img)
		if st := a.submit(`form.props button[type=submit]`); st != http.StatusUnprocessableEntity {
			t.Fatalf("hostile assignee and tags: status %d, want 422", st)
		}
		a.noXSS("ticket page with errors", "")
		for sel, want := range map[string]string{"#p-assignee": attr, "#p-tags": img} {
			if v := evaluate[string](a, `document.querySelector(`+jsString(sel)+`).value`); v != want {
				t.Errorf("%s holds %q, want the input back", sel, v)
			}
		}
		a.do("open edit", chromedp.Click(chromedp.CSS("details.edit summary"), chromedp.NodeVisible))
		a.fill("#e-title", svg+" edited")
		a.fill("#e-description", attr+" "+script)
		a.submit(`details.edit button[type=submit]`)
		a.noXSS("ticket with an edited title", svg+" edited")
		mustContain(t, a.text(".description .text"), attr+" "+script)
		// Someone else renames it with a payload while alice looks: the
		// live banner says so as text.
		xid := strings.TrimPrefix(evaluate[string](a, "location.pathname"), "/tickets/")
		hostile := img + " by bob"
		if _, err := e.App.UpdateTicket.Handle(as("bob", eventdesk.RoleAgent), app.UpdateTicket{ID: xid, Edit: eventdesk.EditTicket{Title: &hostile}}); err != nil {
			t.Fatal(err)
		}
		a.waitFor("the live banner", `!document.getElementById("live-banner").hidden`)
		mustContain(t, a.text("#live-banner"), "Updated by bob just now", hostile)
		a.noXSS("live banner", hostile)
		// alice's edit from the page she had open is stale: the conflict
		// page shows bob's title and hers, as text.
		a.do("open edit", chromedp.Click(chromedp.CSS("details.edit summary"), chromedp.NodeVisible))
		a.fill("#e-title", script+" by alice")
		if st := a.submit(`details.edit button[type=submit]`); st != http.StatusConflict {
			t.Fatalf("stale hostile edit: status %d, want 409", st)
		}
		a.noXSS("conflict page", hostile)
		mustContain(t, a.text(".changes"), svg+" edited", script+" by alice")
		if v := evaluate[string](a, `document.getElementById("e-title").value`); v != script+" by alice" {
			t.Errorf("the conflict form holds %q", v)
		}
		a.submit(`form.reapply button[type=submit]`)
		a.noXSS("ticket after re-applying", script+" by alice")
		// The same texts in the list, the history and the time travel.
		a.open("/tickets?sort=-updated")
		a.noXSS("ticket list", script+" by alice")
		a.submit(`a[href^="/tickets/"].t-link`)
		a.submit(`a[href$="/history"]`)
		a.noXSS("history", all)
		a.submit(`.timeline li:last-child a`)
		a.noXSS("time travel", "XSS "+all)
		// Filters echo what they were given.
		a.open("/tickets?tag=" + url.QueryEscape(svg) + "&assignee=" + url.QueryEscape(attr))
		a.noXSS("list with hostile filters", "")
		if v := evaluate[string](a, `document.getElementById("f-assignee").value`); v != attr {
			t.Errorf("assignee filter holds %q", v)
		}
		a.open("/tickets/" + url.PathEscape(script))
		a.noXSS("hostile ticket id", "")
	})

	t.Run("RequesterSeesOnlyTheirOwn", func(t *testing.T) {
		rita := b.tab(t, e.URL, "rita")
		rita.signin("rita", "requester")
		rita.open("/tickets/new")
		if n := evaluate[int](rita, `document.querySelectorAll("#requester, #assignee").length`); n != 0 {
			t.Error("a requester is offered fields only agents may set")
		}
		rita.fill("#title", "My keyboard types double letters")
		rita.submit(`form[action="/tickets"] button[type=submit]`)
		id := strings.TrimPrefix(evaluate[string](rita, "location.pathname"), "/tickets/")
		if _, err := e.App.AddComment.Handle(as("bob", eventdesk.RoleAgent), app.AddComment{TicketID: id, Body: "Secret: replace it from the spare pile", Internal: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.App.AddComment.Handle(as("bob", eventdesk.RoleAgent), app.AddComment{TicketID: id, Body: "We will swap it today."}); err != nil {
			t.Fatal(err)
		}
		// bob's reply reaches rita's page once projected, as it has by the
		// time she follows the notification.
		e.settle(t)
		rita.open("/tickets/" + id)
		main := rita.text("main")
		mustContain(t, main, "We will swap it today.")
		mustNotContain(t, main, "Secret", "Internal note")
		if n := evaluate[int](rita, `document.querySelectorAll("#p-priority, #p-assignee, #p-tags, input[value=internal]").length`); n != 0 {
			t.Error("a requester is offered agents' controls")
		}
		opts := evaluate[[]string](rita, `[...document.querySelectorAll("#p-status option")].map(o => o.value)`)
		if strings.Join(opts, ",") != "open,closed" {
			t.Errorf("a requester's status choices: %v, want only to close", opts)
		}
		rita.screenshot("ticket-requester")
		rita.axe("requester's ticket page")
		rita.submit(`a[href$="/history"]`)
		mustNotContain(t, rita.text("main"), "Secret", "internal note")

		sam := b.tab(t, e.URL, "sam")
		sam.signin("sam", "requester")
		for _, path := range []string{"/tickets/" + id, "/tickets/" + id + "/history", "/tickets/" + id + "?version=1"} {
			if st := sam.open(path); st != http.StatusNotFound {
				t.Errorf("another requester at %s: status %d, want 404", path, st)
			}
			mustNotContain(t, sam.text("main"), "keyboard")
		}
		mustContain(t, sam.text("h1"), "We could not find that")
		sam.screenshot("error-404")
		sam.axe("404 page")
		sam.open("/tickets")
		mustNotContain(t, sam.text("main"), "keyboard", "Printer")
		if st := sam.open("/dashboard"); st != http.StatusForbidden {
			t.Errorf("a requester's dashboard: %d, want 403", st)
		}
		sam.axe("403 page")
		// Sam's live stream never tells about rita's ticket.
		sam.open("/tickets")
		evaluate[chromedp.Void](sam, `window.__heard = []; new EventSource("/live/stream?after=0").addEventListener("ticket", m => window.__heard.push(JSON.parse(m.data).ticket))`)
		if _, err := e.App.AddComment.Handle(as("bob", eventdesk.RoleAgent), app.AddComment{TicketID: id, Body: "Done."}); err != nil {
			t.Fatal(err)
		}
		mine := openViaApp(t, e, "sam", "Sam's own ticket")
		sam.waitFor("sam's own event", `window.__heard.includes("`+mine+`")`)
		if evaluate[bool](sam, `window.__heard.includes("`+id+`")`) {
			t.Error("sam's live stream told him about rita's ticket")
		}
	})

	t.Run("Dashboard", func(t *testing.T) {
		a := b.tab(t, e.URL, "alice")
		a.signin("alice", "agent")
		a.open("/dashboard")
		if n := evaluate[int](a, `[...document.querySelectorAll("svg.chart-svg")].filter(s => s.getClientRects().length).length`); n != 4 {
			t.Errorf("%d charts shown, want 4", n)
		}
		// The seeded texts were scored: the tone chart has a line and
		// bars of strongly negative texts.
		if n := evaluate[int](a, `document.querySelectorAll("#chart-tone-d ~ path.line.s-tone, #chart-tone-d ~ rect.bar.s-neg").length`); n < 5 {
			t.Errorf("the tone chart draws only %d shapes", n)
		}
		if n := evaluate[int](a, `document.querySelectorAll("svg.chart-svg path.area, svg.chart-svg rect.bar, svg.chart-svg path.line").length`); n < 30 {
			t.Errorf("the charts draw only %d shapes", n)
		}
		a.screenshot("dashboard")
		a.axe("dashboard")
	})

	t.Run("Phone", func(t *testing.T) {
		a := b.tab(t, e.URL, "alice")
		a.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		a.signin("alice", "agent")
		if w := evaluate[float64](a, "document.documentElement.scrollWidth"); w > 391 {
			t.Errorf("the list is %vpx wide on a 390px phone", w)
		}
		a.screenshotView("list-phone")
		a.axe("list on a phone")
		a.submit(`a.t-link`)
		if w := evaluate[float64](a, "document.documentElement.scrollWidth"); w > 391 {
			t.Errorf("the ticket is %vpx wide on a 390px phone", w)
		}
		a.screenshotView("ticket-phone")
		a.axe("ticket on a phone")
		for _, p := range []struct{ path, shot string }{
			{"/dashboard", "dashboard-phone"}, {"/tickets/new", "new-phone"}, {strings.TrimSuffix(evaluate[string](a, "location.pathname"), "/") + "/history", "history-phone"},
		} {
			a.open(p.path)
			if w := evaluate[float64](a, "document.documentElement.scrollWidth"); w > 391 {
				t.Errorf("%s is %vpx wide on a 390px phone", p.path, w)
			}
			a.screenshotView(p.shot)
		}
		a.axe("history on a phone")
	})

	t.Run("WithoutJavaScript", func(t *testing.T) {
		a := b.tab(t, e.URL, "no-js")
		a.do("disable scripts", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		a.signin("chen", "agent")
		a.open("/tickets/new")
		a.fill("#title", "Made without JavaScript")
		if st := a.submit(`form[action="/tickets"] button[type=submit]`); st != http.StatusOK {
			t.Fatalf("open ticket: %d", st)
		}
		a.fill("#body", "Plain forms work.")
		a.submit(`form.reply button[type=submit]`)
		a.fill("#p-status", "resolved")
		a.submit(`form.props button[type=submit]`)
		mustContain(t, a.text("main"), "Changes saved.", "Plain forms work.", "Resolved")
		a.open("/tickets?status=resolved&sort=-updated")
		mustContain(t, a.text("#ticket-list"), "Made without JavaScript")
	})
}

// resolvedCount is the number of resolved tickets the read model counts
// once it shows every event so far.
func resolvedCount(tb testing.TB, e *env) int {
	tb.Helper()
	e.settle(tb)
	st, err := e.App.Stats.Handle(as("auditor", eventdesk.RoleAuditor), app.GetStats{})
	if err != nil {
		tb.Fatal(err)
	}
	return st.ByStatus[eventdesk.StatusResolved]
}

// focusVisible fails the test unless the focused element is drawn with a
// visible focus ring.
func focusVisible(t *tab, what string) {
	t.tb.Helper()
	if !evaluate[bool](t, `(s => s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2)(getComputedStyle(document.activeElement))`) {
		t.tb.Errorf("%s: no visible focus ring on %s", t.name, what)
	}
}

// openViaApp opens a ticket for requester through the application.
func openViaApp(tb testing.TB, e *env, requester, title string) string {
	tb.Helper()
	res, err := e.App.CreateTicket.Handle(as(requester, eventdesk.RoleRequester), app.CreateTicket{Title: title})
	if err != nil {
		tb.Fatal(err)
	}
	// Wait until the read models show it.
	if _, err := e.App.Ticket.Handle(as(requester, eventdesk.RoleRequester), app.GetTicket{ID: res.Ticket.ID, MinPosition: res.Position}); err != nil {
		tb.Fatal(err)
	}
	return res.Ticket.ID
}

// noXSS checks that nothing injected ran or became markup, and that the
// payload (if any) is on the page as text.
func (t *tab) noXSS(page, visible string) {
	t.tb.Helper()
	t.cspClean(page)
	if got := evaluate[string](t, `String(window.__xss)`); got != "undefined" {
		t.tb.Errorf("%s: injected script ran (window.__xss = %s)", page, got)
	}
	injected := evaluate[int](t, `document.querySelectorAll("[onerror],[onload],[onmouseover],img[src=x],main svg:not(.chart-svg):not([aria-hidden])").length +
		[...document.scripts].filter(s => !/\/static\/app\.js/.test(s.src)).length`)
	if injected != 0 {
		t.tb.Errorf("%s: %d injected elements in the page", page, injected)
	}
	if visible != "" && !evaluate[bool](t, `document.body.innerText.includes(`+jsString(visible)+`) || [...document.querySelectorAll("input, textarea")].some(f => f.value.includes(`+jsString(visible)+`))`) {
		t.tb.Errorf("%s: the text %q is not shown literally", page, visible)
	}
}
