package eventdesk

// Command is a request to change a ticket. Commands carry every identifier
// they need (the application layer generates them), so Decide stays pure.
type Command interface {
	// CommandName names the command in errors and logs.
	CommandName() string
}

// OpenTicket creates a ticket.
type OpenTicket struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Priority    Priority `json:"priority"` // empty means normal
	Requester   string   `json:"requester"`
	Tags        []string `json:"tags"`
	Assignee    string   `json:"assignee"` // optional
}

// EditTicket changes any editable field; nil fields stay as they are. The
// changes are decided together and appended atomically.
type EditTicket struct {
	Title       *string   `json:"title,omitempty"`
	Description *string   `json:"description,omitempty"`
	Priority    *Priority `json:"priority,omitempty"`
	Tags        *[]string `json:"tags,omitempty"`
	Status      *Status   `json:"status,omitempty"`
	// Assignee: a non-nil empty string unassigns.
	Assignee *string `json:"assignee,omitempty"`
	// Reason explains an automated change (e.g. an escalation policy).
	Reason string `json:"reason,omitempty"`
}

// AssignTicket sets the assignee; an empty Assignee unassigns.
type AssignTicket struct {
	Assignee string `json:"assignee"`
}

// ChangeStatus moves a ticket to another status.
type ChangeStatus struct {
	Status Status `json:"status"`
}

// AddComment adds a public comment or an internal note.
type AddComment struct {
	CommentID string `json:"commentId"`
	Author    string `json:"author"`
	Body      string `json:"body"`
	Internal  bool   `json:"internal"`
}

// RecordSentiment stores the tone measured in another event's text.
type RecordSentiment struct {
	SourceEventID string  `json:"sourceEventId"`
	Score         float64 `json:"score"`
	Label         string  `json:"label"`
}

// CommandName implements Command.
func (OpenTicket) CommandName() string { return "open ticket" }

// CommandName implements Command.
func (EditTicket) CommandName() string { return "edit ticket" }

// CommandName implements Command.
func (AssignTicket) CommandName() string { return "assign ticket" }

// CommandName implements Command.
func (ChangeStatus) CommandName() string { return "change status" }

// CommandName implements Command.
func (AddComment) CommandName() string { return "add comment" }

// CommandName implements Command.
func (RecordSentiment) CommandName() string { return "record sentiment" }
