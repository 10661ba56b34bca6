package awslambda_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/eventdesk/eventdesk/awslambda"
	"github.com/eventdesk/eventdesk/internal/testenv"
)

// cfn is a CloudFormation template as plain values. Short-form intrinsic
// functions (!Ref x, !GetAtt a.b, !Sub s, …) become their long forms
// ({"Ref": x}, {"Fn::GetAtt": [a, b]}, {"Fn::Sub": s}), so that checks
// need to know only one form.
type cfn map[string]any

func loadTemplate(tb testing.TB) cfn {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(tb), "deploy", "aws", "template.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		tb.Fatalf("template.yaml: %v", err)
	}
	v, err := plain(&doc)
	if err != nil {
		tb.Fatalf("template.yaml: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		tb.Fatalf("template.yaml is not a mapping")
	}
	return m
}

// plain converts a YAML node, resolving CloudFormation's short tags.
func plain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		return plain(n.Content[0])
	case yaml.AliasNode:
		return plain(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			x, err := plain(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = x
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			x, err := plain(c)
			if err != nil {
				return nil, err
			}
			l[i] = x
		}
		v = l
	case yaml.ScalarNode:
		var x any
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			x = n.Value // tagged scalars stay strings
		} else if err := n.Decode(&x); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		v = x
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	switch fn := strings.TrimPrefix(n.Tag, "!"); fn {
	case "Ref", "Condition":
		return map[string]any{fn: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + fn: v}, nil
	}
}

func (t cfn) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, r := range t["Resources"].(map[string]any) {
		out[name] = r.(map[string]any)
	}
	return out
}

func (t cfn) ofType(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, r := range t.resources() {
		if r["Type"] == typ {
			out[name] = r
		}
	}
	return out
}

// get walks a path of keys through nested maps.
func get(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// refName returns the resource a {"Ref": x} or {"Fn::GetAtt": [x, …]}
// names.
func refName(v any) string {
	if s, ok := get(v, "Ref").(string); ok {
		return s
	}
	if l, ok := get(v, "Fn::GetAtt").([]any); ok && len(l) > 0 {
		s, _ := l[0].(string)
		return s
	}
	return ""
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case float64:
		return int(x), true
	}
	return 0, false
}

func TestTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	res := tpl.resources()
	globals, _ := get(map[string]any(tpl), "Globals", "Function").(map[string]any)
	fnProp := func(fn map[string]any, key string) any {
		if v, ok := props(fn)[key]; ok {
			return v
		}
		return globals[key]
	}
	functions := tpl.ofType("AWS::Serverless::Function")
	if len(functions) == 0 {
		t.Fatal("no functions")
	}
	handlers := map[string]bool{}
	for name, fn := range functions {
		t.Run(name, func(t *testing.T) {
			if arch := fmt.Sprint(fnProp(fn, "Architectures")); arch != "[arm64]" {
				t.Errorf("Architectures = %s, want [arm64]", arch)
			}
			if rt := fnProp(fn, "Runtime"); rt != "provided.al2023" {
				t.Errorf("Runtime = %v, want provided.al2023", rt)
			}
			// SAM's go1.x builder cannot pass -tags lambda.norpc; the
			// Makefile does (TestTemplateBuild).
			if bm := get(fn, "Metadata", "BuildMethod"); bm != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", bm)
			}
			if cu := fnProp(fn, "CodeUri"); cu != "../../cmd/eventdesk" {
				t.Errorf("CodeUri = %v, want ../../cmd/eventdesk (the one binary, built by its Makefile)", cu)
			}
			h, _ := props(fn)["Handler"].(string)
			if !slices.Contains(awslambda.Roles, h) {
				t.Errorf("Handler %q is not a role (%v)", h, awslambda.Roles)
			}
			handlers[h] = true
			// An explicit role: SAM then attaches none of its managed
			// policies, whose statements use Resource "*".
			if role := refName(props(fn)["Role"]); res[role]["Type"] != "AWS::IAM::Role" {
				t.Errorf("Role = %v, want a role of this template", props(fn)["Role"])
			}
			if _, ok := props(fn)["Policies"]; ok {
				t.Errorf("Policies set: SAM would add a role with managed policies")
			}
			lg := refName(get(props(fn), "LoggingConfig", "LogGroup"))
			if res[lg]["Type"] != "AWS::Logs::LogGroup" || get(props(res[lg]), "RetentionInDays") == nil {
				t.Errorf("LoggingConfig.LogGroup = %q: want a log group of this template with a retention", lg)
			}
			timeout, _ := toInt(fnProp(fn, "Timeout"))
			events, _ := props(fn)["Events"].(map[string]any)
			for evName, ev := range events {
				checkEventSource(t, tpl, evName, ev.(map[string]any), timeout)
			}
		})
	}
	for _, role := range awslambda.Roles {
		if !handlers[role] {
			t.Errorf("no function plays role %q", role)
		}
	}
	// Event source mappings declared directly get the same checks.
	for name, m := range tpl.ofType("AWS::Lambda::EventSourceMapping") {
		checkEventSource(t, tpl, name, map[string]any{"Type": "DynamoDB", "Properties": props(m)}, 0)
	}

	t.Run("EventsTableStream", func(t *testing.T) {
		if v := get(props(res["EventsTable"]), "StreamSpecification", "StreamViewType"); v != "NEW_IMAGE" {
			t.Errorf("events table StreamViewType = %v, want NEW_IMAGE", v)
		}
		if v := get(props(res["EventsTable"]), "TimeToLiveSpecification", "AttributeName"); v != "ttl" {
			t.Errorf("events table TTL attribute = %v, want ttl", v)
		}
	})
	t.Run("RuleTargets", func(t *testing.T) {
		for name, rule := range tpl.ofType("AWS::Events::Rule") {
			targets, _ := props(rule)["Targets"].([]any)
			for _, tg := range targets {
				if refName(get(tg, "DeadLetterConfig", "Arn")) == "" {
					t.Errorf("rule %s: target %v has no dead-letter queue", name, get(tg, "Id"))
				}
				if n, ok := toInt(get(tg, "RetryPolicy", "MaximumRetryAttempts")); !ok || n > 185 {
					t.Errorf("rule %s: target %v: retries not bounded", name, get(tg, "Id"))
				}
			}
		}
	})
	t.Run("IAM", func(t *testing.T) {
		for _, s := range statements(tpl) {
			for _, a := range asList(s.stmt["Action"]) {
				if str, ok := a.(string); !ok || strings.Contains(str, "*") {
					t.Errorf("%s: wildcard or non-literal action %v", s.where, a)
				}
			}
			for _, r := range asList(s.stmt["Resource"]) {
				if r == "*" {
					t.Errorf("%s: Resource \"*\"", s.where)
				}
			}
			if s.stmt["NotAction"] != nil || s.stmt["NotResource"] != nil {
				t.Errorf("%s: NotAction/NotResource", s.where)
			}
		}
	})
	t.Run("LogRetention", func(t *testing.T) {
		for name, lg := range tpl.ofType("AWS::Logs::LogGroup") {
			if get(props(lg), "RetentionInDays") == nil {
				t.Errorf("log group %s keeps logs forever (no RetentionInDays)", name)
			}
		}
	})
	t.Run("DLQAlarms", func(t *testing.T) {
		alarmed := map[string]bool{}
		for name, a := range tpl.ofType("AWS::CloudWatch::Alarm") {
			p := props(a)
			dims, _ := p["Dimensions"].([]any)
			for _, d := range dims {
				if get(d, "Name") != "QueueName" {
					continue
				}
				alarmed[refName(get(d, "Value"))] = true
				// Depth > 0: one message given up on is already worth a look.
				th, _ := toInt(p["Threshold"])
				if p["Namespace"] != "AWS/SQS" || p["MetricName"] != "ApproximateNumberOfMessagesVisible" ||
					p["ComparisonOperator"] != "GreaterThanThreshold" || th != 0 {
					t.Errorf("alarm %s: %v %v %v %v, want AWS/SQS ApproximateNumberOfMessagesVisible GreaterThanThreshold 0",
						name, p["Namespace"], p["MetricName"], p["ComparisonOperator"], p["Threshold"])
				}
				if len(asList(p["AlarmActions"])) == 0 {
					t.Errorf("alarm %s notifies no one (AlarmActions)", name)
				}
			}
		}
		for _, dlq := range deadLetterQueues(tpl) {
			if !alarmed[dlq] {
				t.Errorf("dead-letter queue %s has no alarm on its depth", dlq)
			}
		}
	})
}

// checkEventSource checks one event of a function: stream sources need an
// on-failure destination, bisection, bounded retries and partial batch
// responses; SQS sources need partial batch responses and a queue with a
// dead-letter queue after a bounded number of receives.
func checkEventSource(t *testing.T, tpl cfn, name string, ev map[string]any, timeout int) {
	t.Helper()
	p, _ := ev["Properties"].(map[string]any)
	partial := slices.Contains(asList(p["FunctionResponseTypes"]), any("ReportBatchItemFailures"))
	switch ev["Type"] {
	case "DynamoDB", "Kinesis":
		if !partial {
			t.Errorf("%s: FunctionResponseTypes lacks ReportBatchItemFailures", name)
		}
		if p["BisectBatchOnFunctionError"] != true {
			t.Errorf("%s: BisectBatchOnFunctionError is not true", name)
		}
		if n, ok := toInt(p["MaximumRetryAttempts"]); !ok || n < 0 || n > 100 {
			t.Errorf("%s: MaximumRetryAttempts = %v, want a bound in [0, 100]", name, p["MaximumRetryAttempts"])
		}
		dest := refName(get(p, "DestinationConfig", "OnFailure", "Destination"))
		if tpl.resources()[dest]["Type"] != "AWS::SQS::Queue" {
			t.Errorf("%s: no on-failure destination queue (got %q)", name, dest)
		}
		if p["StartingPosition"] != "TRIM_HORIZON" {
			t.Errorf("%s: StartingPosition = %v, want TRIM_HORIZON (never skip events)", name, p["StartingPosition"])
		}
	case "SQS":
		if !partial {
			t.Errorf("%s: FunctionResponseTypes lacks ReportBatchItemFailures", name)
		}
		q := tpl.resources()[refName(p["Queue"])]
		qp := props(q)
		if refName(get(qp, "RedrivePolicy", "deadLetterTargetArn")) == "" {
			t.Errorf("%s: queue has no dead-letter queue", name)
		}
		if n, ok := toInt(get(qp, "RedrivePolicy", "maxReceiveCount")); !ok || n < 1 || n > 20 {
			t.Errorf("%s: maxReceiveCount = %v, want a bound in [1, 20]", name, get(qp, "RedrivePolicy", "maxReceiveCount"))
		}
		if vt, _ := toInt(qp["VisibilityTimeout"]); timeout > 0 && vt < 6*timeout {
			t.Errorf("%s: VisibilityTimeout %d < 6 × function timeout %d", name, vt, timeout)
		}
	case "HttpApi":
	default:
		t.Errorf("%s: unexpected event source type %v", name, ev["Type"])
	}
}

type statement struct {
	where string
	stmt  map[string]any
}

// statements returns every IAM policy statement of the template.
func statements(tpl cfn) []statement {
	var out []statement
	add := func(where string, doc any) {
		for i, s := range asList(get(doc, "Statement")) {
			if m, ok := s.(map[string]any); ok {
				out = append(out, statement{fmt.Sprintf("%s statement %d", where, i), m})
			}
		}
	}
	for name, r := range tpl.resources() {
		p := props(r)
		switch r["Type"] {
		case "AWS::IAM::Role":
			for _, pol := range asList(p["Policies"]) {
				add(fmt.Sprintf("%s/%v", name, get(pol, "PolicyName")), get(pol, "PolicyDocument"))
			}
			if p["ManagedPolicyArns"] != nil {
				out = append(out, statement{name + " managed policies", map[string]any{"Action": "*"}})
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy":
			add(name, p["PolicyDocument"])
		}
	}
	return out
}

// deadLetterQueues returns every queue the template uses as a dead-letter
// queue or on-failure destination.
func deadLetterQueues(tpl cfn) []string {
	set := map[string]bool{}
	for _, r := range tpl.resources() {
		p := props(r)
		if q := refName(get(p, "RedrivePolicy", "deadLetterTargetArn")); q != "" {
			set[q] = true
		}
		for _, tg := range asList(p["Targets"]) {
			if q := refName(get(tg, "DeadLetterConfig", "Arn")); q != "" {
				set[q] = true
			}
		}
		events, _ := p["Events"].(map[string]any)
		for _, ev := range events {
			if q := refName(get(ev, "Properties", "DestinationConfig", "OnFailure", "Destination")); q != "" {
				set[q] = true
			}
		}
	}
	var out []string
	for q := range set {
		out = append(out, q)
	}
	slices.Sort(out)
	return out
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// TestTemplateBuild checks what `sam build` builds: for every function of
// the template, cmd/eventdesk/Makefile (SAM's makefile builder runs the
// target build-<logical id> with ARTIFACTS_DIR set, in a scratch copy of the
// CodeUri directory) has a target that builds the one binary as the custom
// runtime's bootstrap for linux/arm64 without cgo and with -tags
// lambda.norpc. `make -n` prints each target's commands without running
// them, from a directory elsewhere, as SAM's scratch directory is.
func TestTemplateBuild(t *testing.T) {
	tpl := loadTemplate(t)
	mk := filepath.Join(testenv.RepoRoot(t), "cmd", "eventdesk", "Makefile")
	if _, err := os.Stat(mk); err != nil {
		t.Fatal(err)
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is needed to check the SAM build (and by sam build itself): %v", err)
	}
	artifacts := t.TempDir()
	for name := range tpl.ofType("AWS::Serverless::Function") {
		cmd := exec.Command(makeBin, "-n", "--makefile", mk, "build-"+name, "ARTIFACTS_DIR="+artifacts)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: make -n build-%s: %v\n%s", name, name, err, out)
			continue
		}
		build := string(out)
		for _, want := range []string{
			"cd \"" + testenv.RepoRoot(t) + "\"", "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "go build",
			"-tags lambda.norpc", "-trimpath", "-s -w", "-o \"" + filepath.Join(artifacts, "bootstrap") + "\"", "./cmd/eventdesk",
		} {
			if !strings.Contains(build, want) {
				t.Errorf("%s: the build lacks %q:\n%s", name, want, build)
			}
		}
	}
	// Without ARTIFACTS_DIR (not run by SAM) the target refuses to run.
	cmd := exec.Command(makeBin, "--makefile", mk, "build-ApiFunction", "ARTIFACTS_DIR=")
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "ARTIFACTS_DIR is not set") {
		t.Errorf("make without ARTIFACTS_DIR: %v\n%s", err, out)
	}
}
