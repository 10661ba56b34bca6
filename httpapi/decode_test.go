package httpapi

import (
	"reflect"
	"testing"
)

var createBodies = []string{
	`{"title":"Printer on fire","priority":"high","tags":["hw"]}`,
	` { "title" : "a" , "description":"", "requester":"bob", "assignee":null, "tags":[] } `,
	`{"title":"ünïcödé 🎫","assignee":"agnes","tags":["a","b", "c"]}`,
	`{}`, `{"tags":null}`, `{"title":"a","title":"b"}`, `{"Title":"case"}`, `{"title":"esc\"aped"}`,
	`{"title":null}`, `{"title":1}`, `{"tags":["a",null]}`, `{"title":"a"} x`, `{"title":"a"}{}`, `{"other":"x"}`,
	`{"title":"a",}`, `{"title":"a"`, `[]`, `null`, `"x"`, ``, `{"title":"bad \xff"}`, "{\"title\":\"tab\there\"}",
	`{"assignee":nullx}`, `{"tags":["a" "b"]}`, `{"tags":[,]}`,
}

// TestDecodeCreateFastAgreesWithStrict holds the fast path to what
// decodeStrict decodes; FuzzDecodeCreateFast searches further.
func TestDecodeCreateFastAgreesWithStrict(t *testing.T) {
	accepted := 0
	for _, b := range createBodies {
		if checkCreateFast(t, []byte(b)) {
			accepted++
		}
	}
	if accepted < 5 {
		t.Errorf("the fast path accepted only %d of the usual bodies", accepted)
	}
}

func FuzzDecodeCreateFast(f *testing.F) {
	for _, b := range createBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCreateFast(t, b) })
}

func checkCreateFast(t *testing.T, body []byte) bool {
	t.Helper()
	var fast, strict createTicketRequest
	if !decodeCreateFast(body, &fast) {
		if !reflect.DeepEqual(fast, createTicketRequest{}) {
			t.Errorf("%q: refused but filled in %+v", body, fast)
		}
		return false
	}
	if err := decodeStrict(body, &strict); err != nil {
		t.Errorf("%q: fast path accepted what decodeStrict refuses: %v", body, err)
		return true
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Errorf("%q: fast %+v, strict %+v", body, fast, strict)
	}
	return true
}
