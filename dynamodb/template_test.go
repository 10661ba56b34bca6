package dynamodb_test

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/eventdesk/eventdesk/dynamodb"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// TestTemplateTables checks that the tables of deploy/aws/template.yaml
// have the keys, indexes and TTL attribute this package uses (the tables
// the tests create come from CreateEventsTable and friends, the deployed
// ones from the template: the two must agree).
func TestTemplateTables(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "deploy", "aws", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	props := func(resource string) *yaml.Node {
		t.Helper()
		n := lookup(doc.Content[0], "Resources", resource, "Properties")
		if n == nil {
			t.Fatalf("template has no %s", resource)
		}
		return n
	}
	keys := func(schema *yaml.Node) [2]string {
		var k [2]string
		for _, e := range schema.Content {
			switch lookup(e, "KeyType").Value {
			case "HASH":
				k[0] = lookup(e, "AttributeName").Value
			case "RANGE":
				k[1] = lookup(e, "AttributeName").Value
			}
		}
		return k
	}
	if got := keys(lookup(props("EventsTable"), "KeySchema")); got != dynamodb.EventsKey {
		t.Errorf("events table keys %v, want %v", got, dynamodb.EventsKey)
	}
	for _, table := range []string{"EventsTable", "StateTable"} {
		if got := lookup(props(table), "TimeToLiveSpecification", "AttributeName"); got == nil || got.Value != dynamodb.TTLAttr {
			t.Errorf("%s: TTL attribute %v, want %s", table, got, dynamodb.TTLAttr)
		}
	}
	for _, table := range []string{"ReadTable", "StateTable"} {
		if got := keys(lookup(props(table), "KeySchema")); got != dynamodb.PairKey {
			t.Errorf("%s keys %v, want %v", table, got, dynamodb.PairKey)
		}
	}
	gsis := map[string][2]string{}
	for _, g := range lookup(props("ReadTable"), "GlobalSecondaryIndexes").Content {
		gsis[lookup(g, "IndexName").Value] = keys(lookup(g, "KeySchema"))
		if p := lookup(g, "Projection", "ProjectionType"); p == nil || p.Value != "ALL" {
			t.Errorf("index %s: projection %v, want ALL", lookup(g, "IndexName").Value, p)
		}
	}
	if len(gsis) != len(dynamodb.IndexKeys) {
		t.Errorf("template has %d indexes, the package uses %d", len(gsis), len(dynamodb.IndexKeys))
	}
	for name, want := range dynamodb.IndexKeys {
		if gsis[name] != want {
			t.Errorf("index %s: template keys %v, package keys %v", name, gsis[name], want)
		}
	}
}

// lookup walks mapping keys from n.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, k := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}
