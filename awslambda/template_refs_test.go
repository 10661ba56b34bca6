package awslambda_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// getAttAttributes lists, per resource type, the attributes the template
// may read with Fn::GetAtt (or ${Resource.Attribute} in Fn::Sub): a typo
// or an attribute the type does not have fails here instead of at deploy
// time.
var getAttAttributes = map[string][]string{
	"AWS::DynamoDB::Table":            {"Arn", "StreamArn"},
	"AWS::SQS::Queue":                 {"Arn", "QueueName", "QueueUrl"},
	"AWS::Events::EventBus":           {"Arn", "Name"},
	"AWS::Events::Rule":               {"Arn"},
	"AWS::IAM::Role":                  {"Arn", "RoleId"},
	"AWS::Logs::LogGroup":             {"Arn"},
	"AWS::SNS::Topic":                 {"TopicArn", "TopicName"},
	"AWS::Serverless::Function":       {"Arn"},
	"AWS::SecretsManager::Secret":     {"Id"},
	"AWS::Serverless::HttpApi":        {"ApiEndpoint"},
	"AWS::CloudWatch::Alarm":          {"Arn"},
	"AWS::SNS::Subscription":          {},
	"AWS::SQS::QueuePolicy":           {},
	"AWS::Lambda::EventSourceMapping": {},
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// TestTemplateReferences checks that every reference in the template
// resolves: Ref to a parameter, a resource or a pseudo parameter; GetAtt
// and ${X.Attr} to a resource of this template and an attribute its type
// has; Condition to a declared condition. This is what cfn-lint's
// reference rules would catch (cfn-lint itself needs Python, and the npm
// package of that name carries a 2019 resource specification that knows
// neither provided.al2023 nor LoggingConfig).
func TestTemplateReferences(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	params, _ := tpl["Parameters"].(map[string]any)
	conds, _ := tpl["Conditions"].(map[string]any)
	known := func(name string) bool {
		if strings.HasPrefix(name, "AWS::") {
			return slices.Contains([]string{"AWS::AccountId", "AWS::Region", "AWS::StackName", "AWS::StackId", "AWS::Partition", "AWS::URLSuffix", "AWS::NoValue"}, name)
		}
		_, p := params[name]
		_, r := res[name]
		return p || r
	}
	// A resource deployed under a condition may be referenced only by
	// resources (or outputs) under the same condition, or from a branch of
	// Fn::If: otherwise the stack fails to deploy when it is left out.
	condOf := func(name string) string { c, _ := res[name]["Condition"].(string); return c }
	var cur struct {
		cond string
		inIf bool
	}
	checkCond := func(where, name string) {
		if c := condOf(name); c != "" && c != cur.cond && !cur.inIf {
			t.Errorf("%s: refers to %s, deployed only if %s, outside Fn::If", where, name, c)
		}
	}
	checkAtt := func(where, name, attr string) {
		checkCond(where, name)
		r, ok := res[name]
		if !ok {
			t.Errorf("%s: GetAtt %s.%s: no resource %s", where, name, attr, name)
			return
		}
		typ, _ := r["Type"].(string)
		attrs, ok := getAttAttributes[typ]
		if !ok {
			t.Errorf("%s: GetAtt %s.%s: type %s not in getAttAttributes (add its attributes)", where, name, attr, typ)
			return
		}
		if !slices.Contains(attrs, attr) {
			t.Errorf("%s: GetAtt %s.%s: %s has no attribute %q (has %v)", where, name, attr, typ, attr, attrs)
		}
	}
	var refs int
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		case map[string]any:
			for k, e := range x {
				switch k {
				case "Ref":
					refs++
					if s, _ := e.(string); !known(s) {
						t.Errorf("%s: Ref %v resolves to nothing", where, e)
					} else {
						checkCond(where, s)
					}
					continue
				case "Fn::GetAtt":
					refs++
					var name, attr string
					switch g := e.(type) {
					case []any:
						if len(g) == 2 {
							name, _ = g[0].(string)
							attr, _ = g[1].(string)
						}
					case string:
						name, attr, _ = strings.Cut(g, ".")
					}
					checkAtt(where, name, attr)
					continue
				case "Fn::Sub":
					s, _ := e.(string)
					if l, ok := e.([]any); ok && len(l) > 0 {
						s, _ = l[0].(string) // variables of the map form are not used here
					}
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						refs++
						name, attr, dotted := strings.Cut(m[1], ".")
						switch {
						case dotted:
							checkAtt(where, name, attr)
						case !known(name):
							t.Errorf("%s: Sub ${%s} resolves to nothing", where, name)
						default:
							checkCond(where, name)
						}
					}
					continue
				case "Condition", "Fn::If":
					name, _ := e.(string)
					if l, ok := e.([]any); ok && len(l) > 0 {
						name, _ = l[0].(string)
					}
					if _, ok := conds[name]; !ok && (k == "Fn::If" || name != "") {
						if _, isMap := e.(map[string]any); !isMap {
							t.Errorf("%s: condition %q is not declared", where, name)
						}
					}
				}
				if k == "Fn::If" {
					saved := cur.inIf
					cur.inIf = true
					walk(where+"."+k, e)
					cur.inIf = saved
					continue
				}
				walk(where+"."+k, e)
			}
		}
	}
	for name, r := range res {
		cur.cond = condOf(name)
		walk(name, r)
	}
	outputs, _ := tpl["Outputs"].(map[string]any)
	for name, o := range outputs {
		cur.cond, _ = get(o, "Condition").(string)
		walk("Outputs."+name, o)
	}
	cur.cond = ""
	walk("Globals", tpl["Globals"])
	walk("Conditions", tpl["Conditions"])
	if refs < 50 {
		t.Errorf("only %d references found: the walk is broken", refs)
	}

	// Every queue is a dead-letter queue or has one.
	dlqs := deadLetterQueues(tpl)
	for name, q := range tpl.ofType("AWS::SQS::Queue") {
		if !slices.Contains(dlqs, name) && get(props(q), "RedrivePolicy", "deadLetterTargetArn") == nil {
			t.Errorf("queue %s is neither a dead-letter queue nor has one", name)
		}
	}
	// Every function is invoked synchronously (HTTP API, by hand) or has
	// somewhere for what it gives up on: an on-failure destination or its
	// queue's dead-letter queue (checked per source by TestTemplate).
	for name, fn := range tpl.ofType("AWS::Serverless::Function") {
		events, _ := props(fn)["Events"].(map[string]any)
		for evName, ev := range events {
			switch get(ev, "Type") {
			case "HttpApi", "SQS", "DynamoDB":
			default:
				t.Errorf("%s: event %s of type %v: asynchronous invocations need an on-failure destination; add its check", name, evName, get(ev, "Type"))
			}
		}
	}
	// A wildcard in a resource ARN only where nothing narrower exists:
	// dynamodb:ListStreams, which names no single stream, on the table's
	// stream/*. Indexes are named one by one, and must be indexes of the
	// table they are under.
	indexArn := regexp.MustCompile(`^\$\{(\w+)\.Arn\}/index/(.+)$`)
	for _, s := range statements(tpl) {
		for _, r := range asList(s.stmt["Resource"]) {
			str := fmt.Sprint(r)
			if sub, ok := get(r, "Fn::Sub").(string); ok {
				str = sub
			}
			listStreamsOnly := slices.Equal(asList(s.stmt["Action"]), []any{"dynamodb:ListStreams"})
			if strings.Contains(str, "*") && !(listStreamsOnly && strings.HasSuffix(str, "/stream/*")) {
				t.Errorf("%s: resource %s has a wildcard where a narrower ARN exists", s.where, str)
			}
			if m := indexArn.FindStringSubmatch(str); m != nil {
				var names []string
				for _, g := range asList(get(props(res[m[1]]), "GlobalSecondaryIndexes")) {
					names = append(names, fmt.Sprint(get(g, "IndexName")))
				}
				if !slices.Contains(names, m[2]) {
					t.Errorf("%s: %s is not an index of %s (%v)", s.where, str, m[1], names)
				}
			}
		}
	}
}
