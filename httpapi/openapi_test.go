package httpapi_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/eventdesk/eventdesk/httpapi"
)

// TestOpenAPIDescribesEveryRoute compares the patterns registered in
// routes() with the operations of the OpenAPI document, both ways.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	body = body[strings.Index(body, "func (s *Server) routes()"):]
	body = body[:strings.Index(body, "\n}\n")]
	var routes []string
	for _, m := range regexp.MustCompile(`"(GET|POST|PUT|PATCH|DELETE) (/[^"]*)"`).FindAllStringSubmatch(body, -1) {
		routes = append(routes, m[1]+" "+m[2])
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d routes in routes()", len(routes))
	}
	spec := loadSpec(t, httpapi.OpenAPI())
	var documented []string
	for path, item := range spec.doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		t.Fatalf("routes and OpenAPI operations differ:\nroutes:     %v\ndocumented: %v", routes, documented)
	}
}
