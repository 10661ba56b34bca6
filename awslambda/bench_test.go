package awslambda_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventdesk/eventdesk/awslambda"
)

// BenchmarkLambdaColdStart measures, per role, a cold start of the real
// bootstrap binary: from starting the process to the first invocation
// answered through the test Runtime API (init-ms: until the runtime first
// asks for an invocation, i.e. Lambda's Init phase). The invocations need
// no AWS call (an empty batch, GET /healthz), so the figure is the
// binary's own start-up: Go runtime, package initialisation, SDK
// configuration and wiring. cpu-ms is the process's CPU time (user+system)
// up to its first answer. EVENTDESK_BOOTSTRAP names a binary built
// elsewhere to measure instead (e.g. an older build, for a comparison on
// the same machine in the same minutes).
func BenchmarkLambdaColdStart(b *testing.B) {
	bin := os.Getenv("EVENTDESK_BOOTSTRAP")
	if bin == "" {
		bin = buildBootstrap(b, true)
	}
	env := map[string]string{
		"EVENTDESK_EVENTS_TABLE": "events", "EVENTDESK_READ_TABLE": "read", "EVENTDESK_STATE_TABLE": "state",
		"EVENTDESK_SESSION_KEY": "0123456789abcdef0123456789abcdef", "EVENTDESK_EVENT_BUS": "bus",
	}
	payloads := map[string]any{
		awslambda.RoleAPI: events.APIGatewayV2HTTPRequest{RawPath: "/healthz", RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}},
		awslambda.RolePublisher: awslambda.StreamEvent{},
		awslambda.RoleProjector: events.SQSEvent{},
		awslambda.RoleSentiment: events.SQSEvent{},
	}
	for _, role := range []string{awslambda.RoleAPI, awslambda.RolePublisher, awslambda.RoleProjector, awslambda.RoleSentiment} {
		b.Run(role, func(b *testing.B) {
			var initTotal, cpuTotal time.Duration
			for b.Loop() {
				start := time.Now()
				f := startFunction(b, bin, role, env)
				res := f.invoke(b, payloads[role])
				if res.isError {
					b.Fatalf("invocation failed: %s", res.body)
				}
				b.StopTimer()
				<-f.firstNext
				initTotal += f.firstNextAt.Sub(start)
				_ = f.cmd.Process.Kill()
				err := <-f.exited
				f.exited <- err // for the cleanup
				if ru, ok := f.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					cpuTotal += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(initTotal.Microseconds())/1000/float64(b.N), "init-ms")
			// CPU time of the process up to its first answer: less at the
			// mercy of other load on the machine than wall time.
			b.ReportMetric(float64(cpuTotal.Microseconds())/1000/float64(b.N), "cpu-ms")
		})
	}
}
