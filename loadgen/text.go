package loadgen

import (
	"fmt"
	"strings"
)

// category is a kind of problem: its tag, a typical priority (index into
// eventdesk.Priorities) and the phrases its tickets are made of.
type category struct {
	tag      string
	priority int
	titles   []string
	problems []string
	details  []string
}

// The phrases below contain placeholders that fill replaces: {system},
// {num}, {floor}, {month}, {thing}, {team}, {error}, {ver}, {n}.
var categories = []category{
	{tag: "login", priority: 2,
		titles:   []string{"Cannot log in to {system}", "Password reset link does not work", "Account locked after failed logins", "Two-factor code never arrives", "Single sign-on loops back to the login page"},
		problems: []string{"I cannot log in to {system} since this morning.", "The password reset e-mail for {system} never arrives.", "My account was locked after {n} attempts, although I typed the right password.", "Every time I enter the two-factor code, {system} says it has expired."},
		details:  []string{"I already cleared the cache and tried another browser.", "Colleagues on my team have the same problem.", "The error says \"{error}\".", "It worked fine until the update to version {ver}."}},
	{tag: "billing", priority: 1,
		titles:   []string{"Charged twice for the {month} invoice", "Invoice {num} shows the wrong amount", "Refund not received yet", "Cannot download my invoice", "VAT number missing on invoice {num}"},
		problems: []string{"My card was charged twice for the {month} invoice.", "Invoice {num} lists {n} seats, but we only have {n} users.", "I was promised a refund three weeks ago and have not received it.", "The download link for invoice {num} returns an error."},
		details:  []string{"Our finance team needs this before the end of the month.", "The order number is {num}.", "I attached the bank statement.", "We changed our billing address in {month}."}},
	{tag: "shipping", priority: 1,
		titles:   []string{"Order {num} has not arrived", "Package arrived damaged", "Tracking number does not update", "Wrong item delivered for order {num}", "Delivery address cannot be changed"},
		problems: []string{"Order {num} was supposed to arrive {n} days ago.", "The box arrived crushed and the {thing} inside is broken.", "The tracking page has shown \"in transit\" for a week.", "I ordered a {thing} but received something else."},
		details:  []string{"I need it for an event next week.", "Photos of the package are attached.", "The courier says they never had the parcel.", "This is my third order this year."}},
	{tag: "printer", priority: 1,
		titles:   []string{"Printer on floor {floor} keeps jamming", "Cannot print from my laptop", "Printer prints blank pages", "Scanner does not send e-mails", "Toner empty on floor {floor}"},
		problems: []string{"The printer on floor {floor} jams on every second page.", "My laptop does not find the printer since the update.", "Everything comes out as blank pages.", "Scanning to e-mail fails without an error."},
		details:  []string{"The display shows error {error}.", "It happens with every document.", "We have a client meeting at {n} o'clock and need the handouts.", "I restarted the printer twice."}},
	{tag: "vpn", priority: 2,
		titles:   []string{"VPN disconnects every few minutes", "Cannot connect to the VPN from home", "VPN is very slow", "VPN client asks for a certificate", "No access to the intranet over VPN"},
		problems: []string{"The VPN drops every {n} minutes while I work from home.", "The VPN client fails with \"{error}\".", "Over the VPN, file transfers crawl at a few kilobytes per second.", "The VPN client asks for a certificate I do not have."},
		details:  []string{"My home internet works fine otherwise.", "I am on version {ver} of the client.", "It started after the password change.", "I tried both the wired and the wireless connection."}},
	{tag: "email", priority: 1,
		titles:   []string{"E-mails stuck in the outbox", "Not receiving e-mails from {system}", "Shared mailbox missing", "Calendar invitations arrive twice", "Mailbox is full"},
		problems: []string{"My e-mails stay in the outbox and are never sent.", "I stopped receiving notifications from {system}.", "The team's shared mailbox disappeared from my client.", "Every calendar invitation shows up twice."},
		details:  []string{"Webmail works, the desktop client does not.", "It affects the whole {team} team.", "I checked the spam folder.", "It started on {month} {n}."}},
	{tag: "performance", priority: 2,
		titles:   []string{"{system} is extremely slow", "Dashboard takes minutes to load", "Search times out", "Reports never finish", "Page freezes when saving"},
		problems: []string{"{system} takes more than a minute to open any page.", "The dashboard spins for minutes and then shows \"{error}\".", "Searching for a customer times out every time.", "Monthly reports run for hours and never finish."},
		details:  []string{"It is slow for everyone in the office.", "It was fast last week.", "We have about {n} thousand records.", "It is worst between nine and eleven."}},
	{tag: "bug", priority: 2,
		titles:   []string{"Error 500 when saving a {thing}", "Export to CSV produces an empty file", "Dates shown in the wrong time zone", "Button does nothing in {system}", "Duplicate entries after import"},
		problems: []string{"Saving a {thing} fails with error 500.", "The CSV export downloads an empty file.", "All dates in {system} are shown an hour off.", "Clicking \"Submit\" in {system} does nothing at all."},
		details:  []string{"Steps: open a {thing}, change any field, press save.", "The browser console shows \"{error}\".", "It happens on version {ver}.", "I can reproduce it every time."}},
	{tag: "feature-request", priority: 0,
		titles:   []string{"Please add a dark mode", "Allow bulk editing of {thing}s", "Export to PDF", "Keyboard shortcuts for {system}", "Filter by more than one tag"},
		problems: []string{"It would be great to have a dark mode in {system}.", "We edit {n} {thing}s a day one by one; bulk editing would save hours.", "We would like to export reports as PDF.", "Power users in our team would love keyboard shortcuts."},
		details:  []string{"Other tools we use already have this.", "Happy to test a beta.", "This would help the whole {team} team.", "Not urgent, just an idea."}},
	{tag: "account", priority: 1,
		titles:   []string{"Change the e-mail address of my account", "Delete my account", "Add a user to our team", "Transfer ownership of the workspace", "Update company name"},
		problems: []string{"I need to change the e-mail address of my account.", "Please delete my account and all my data.", "Please add a new colleague to our team account.", "Our admin left; we need to transfer ownership of the workspace."},
		details:  []string{"I cannot find the setting myself.", "Our contract number is {num}.", "The new address is on our company domain.", "We need this done before {month}."}},
	{tag: "hardware", priority: 1,
		titles:   []string{"Laptop battery drains quickly", "Monitor flickers", "Keyboard keys stopped working", "Docking station not detected", "Laptop overheats"},
		problems: []string{"My laptop battery lasts barely an hour.", "The second monitor flickers every few seconds.", "Several keys on my keyboard stopped working.", "The docking station is no longer detected."},
		details:  []string{"The laptop is {n} years old.", "I work in room {floor}{n}.", "I tried another cable.", "The asset tag is {num}."}},
	{tag: "access", priority: 1,
		titles:   []string{"Need access to {system}", "Permission denied on the shared drive", "Cannot open the {team} folder", "Request admin rights", "Access expired"},
		problems: []string{"I need access to {system} for my new role.", "I get \"permission denied\" on the shared drive.", "I can no longer open the {team} folder.", "My access to {system} expired yesterday."},
		details:  []string{"My manager approved it.", "I started in the {team} team this week.", "I need it for the {month} close.", "Ticket {num} was about the same thing."}},
}

var extraTags = []string{"customer", "internal", "vip", "mobile", "web", "windows", "mac", "eu", "us", "apac", "enterprise", "trial", "regression", "security", "onboarding"}

var (
	systems  = []string{"the portal", "the CRM", "the HR system", "the ERP", "the wiki", "the mobile app", "the web shop", "the intranet", "the time tracker", "the expense tool"}
	things   = []string{"invoice", "contact", "order", "report", "project", "product", "contract", "timesheet", "expense claim", "user"}
	teams    = []string{"sales", "finance", "support", "marketing", "engineering", "legal", "HR", "logistics"}
	months   = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	errCodes = []string{"ERR_CONNECTION_RESET", "0x80070005", "E-1042", "timeout after 30s", "internal server error", "certificate has expired", "access denied", "503 service unavailable"}
)

// Closing sentences by mood: calm ones read positive, angry ones strongly
// negative, so that sentiment analysis has something to find.
var (
	calmLines = []string{
		"Thanks in advance for your help!", "No rush, whenever you have a moment.", "Thank you, I really appreciate it.",
		"Have a great day!", "Many thanks, you are always very helpful.", "Thanks a lot for looking into this.",
	}
	frustratedLines = []string{
		"This is getting really annoying.", "Honestly, this is frustrating.", "I am disappointed that this is still a problem.",
		"It is slowing down my whole team and I am unhappy about it.", "This keeps happening and it is tiresome.", "Not great, I have to say. Quite a poor experience.",
	}
	angryLines = []string{
		"This is absolutely unacceptable!", "I am furious, this is the third time this month!", "Your service is terrible and nobody answers.",
		"Worst experience ever. Fix it NOW.", "I am sick of waiting, this is ridiculous.", "This is a disaster and I am losing customers because of you.",
		"Completely useless. I want to speak to a manager.", "I hate this. Awful, awful support.",
	}
	agentReplies = []string{
		"Hi {first}, thanks for reaching out. I am looking into this now.",
		"Hello {first}, sorry for the trouble! Could you send a screenshot of the error?",
		"Hi {first}, thanks for the details. I can reproduce the problem and am checking with the {team} team.",
		"Hi {first}, I am sorry about this. I have escalated it and will keep you posted.",
		"Hello {first}, thank you for your patience. Which version of {system} are you using?",
	}
	internalNotes = []string{
		"Escalated to the {team} team, waiting for their answer.", "Looks like a duplicate of ticket {num}.",
		"Key account: handle with care.", "Checked the logs: \"{error}\" at the time reported.",
		"Known issue since version {ver}, fix scheduled.", "Customer called twice about this already.",
		"Workaround documented in the wiki.", "Needs a refund approval from finance.",
	}
	customerAnswers = []string{
		"Here is the screenshot you asked for.", "I am on version 4.2, on Windows.", "Yes, it still happens.",
		"I tried that, no change.", "Sorry for the delay, I was away. Here are the details.", "The order number is in the attachment.",
	}
	resolutions = []string{
		"Hi {first}, the fix is deployed. Please let us know if the problem comes back.",
		"Hello {first}, we have corrected this on our side. Thanks for your patience!",
		"Hi {first}, this should work again now. I am resolving the ticket; reply if anything is still wrong.",
		"Hi {first}, done! Have a good day.",
	}
	reopenComplaints = []string{
		"It is NOT fixed. Same error as before. This is ridiculous.", "Still broken. Why did you close this? Terrible.",
		"The problem is back, worse than before. Very disappointed.", "Nothing changed, please look again.",
	}
	thanks = []string{"Thanks, that helped!", "Great, thank you so much!", "Perfect, works now.", "Thank you for the quick answer."}
)

// fill replaces the placeholders of s with random values.
func fill(r rng, s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		switch s[i+1 : i+j] {
		case "system":
			b.WriteString(pick(r, systems))
		case "num":
			fmt.Fprintf(&b, "%d", 100000+r.intn(900000))
		case "floor":
			fmt.Fprintf(&b, "%d", 1+r.intn(9))
		case "month":
			b.WriteString(pick(r, months))
		case "thing":
			b.WriteString(pick(r, things))
		case "team":
			b.WriteString(pick(r, teams))
		case "error":
			b.WriteString(pick(r, errCodes))
		case "ver":
			fmt.Fprintf(&b, "%d.%d.%d", 1+r.intn(6), r.intn(20), r.intn(10))
		case "n":
			fmt.Fprintf(&b, "%d", 2+r.intn(28))
		default:
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
}

// describe writes a ticket's description in the requester's mood.
func describe(r rng, c category, m Mood, first string) string {
	var b strings.Builder
	if r.chance(0.6) {
		b.WriteString(pick(r, []string{"Hello,", "Hi,", "Hi there,", "Dear support,", "Good morning,"}) + "\n\n")
	}
	b.WriteString(fill(r, pick(r, c.problems)))
	d := r.intn(len(c.details))
	b.WriteString(" " + fill(r, c.details[d]))
	if r.chance(0.5) {
		b.WriteString(" " + fill(r, c.details[(d+1+r.intn(len(c.details)-1))%len(c.details)]))
	}
	b.WriteString("\n\n")
	switch m {
	case Calm:
		b.WriteString(pick(r, calmLines))
	case Frustrated:
		b.WriteString(pick(r, frustratedLines))
	case Angry:
		b.WriteString(pick(r, angryLines) + " " + pick(r, angryLines))
	}
	b.WriteString("\n\n" + first)
	return b.String()
}

// followUp is the requester's next message in their mood.
func followUp(r rng, m Mood) string {
	switch m {
	case Angry:
		return pick(r, []string{"Still not fixed!!! ", "Any news? It has been days. ", "Hello?? "}) + pick(r, angryLines)
	case Frustrated:
		return pick(r, []string{"Any update on this? ", "It happened again today. "}) + pick(r, frustratedLines)
	}
	return pick(r, thanks)
}

// reply fills an agent's message for the requester first, signed by the
// agent.
func reply(r rng, templates []string, first, agent string) string {
	s := strings.ReplaceAll(pick(r, templates), "{first}", first)
	return fill(r, s) + "\n\n" + firstOf(agent)
}

// firstOf returns the capitalized first name of a user name (first.last…).
func firstOf(user string) string {
	f, _, _ := strings.Cut(user, ".")
	if f == "" {
		return user
	}
	return strings.ToUpper(f[:1]) + f[1:]
}

var firstNames = []string{
	"ada", "alan", "grace", "linus", "margaret", "dennis", "barbara", "ken", "frances", "edsger",
	"radia", "tim", "hedy", "john", "katherine", "niklaus", "sophie", "guido", "annie", "bjarne",
	"mary", "james", "shafi", "leslie", "joan", "donald", "karen", "robin", "lynn", "fernando",
	"amara", "kenji", "ines", "omar", "priya", "mateo", "yuki", "chen", "fatima", "lars",
}

var lastNames = []string{
	"lovelace", "turing", "hopper", "torvalds", "hamilton", "ritchie", "liskov", "thompson", "allen", "dijkstra",
	"perlman", "berners-lee", "lamarr", "mccarthy", "johnson", "wirth", "wilson", "rossum", "easley", "stroustrup",
	"keller", "gosling", "goldwasser", "lamport", "clarke", "knuth", "jones", "milner", "conway", "corbato",
	"okafor", "tanaka", "duarte", "haddad", "sharma", "garcia", "sato", "wei", "rahman", "nilsson",
}

var domains = []string{"example.com", "example.org", "example.net", "acme.test", "globex.test", "initech.test"}
