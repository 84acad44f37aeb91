// Package framework drives the real burrow binary in end-to-end specs.
//
// A spec gets a Framework from New(t). The framework hands out loopback
// ports (Port, UDPPort), starts mock servers (TCPEcho, TCPSink, UDPEcho,
// HTTPServer, WSEcho, RefusingAddr) and burrow processes (Burrow), and
// checks traffic with fluent expectations (ExpectTCPEcho, ExpectTCPClose,
// ExpectUDPEcho). Cleanup stops every process (SIGTERM, SIGKILL after 3s),
// closes every mock server and, when the spec failed, prints the last 200
// lines of every process's output. Set BURROW_E2E_VERBOSE=1 to print them
// always.
//
// The binary is built once per test binary from ./cmd/burrow (with -race
// when BURROW_RACE=1), with the plugins in plugins/ beside it where a
// master looks by default, unless BURROW_BIN names one (make test and
// make e2e name bin/'s, with bin/plugins beside it).
//
// # Adding a spec
//
// Put it in test/e2e/ (package e2e), in the file for its area. The package's
// TestMain is framework.Main, which also checks for leaked goroutines.
//
//	func TestTCPEcho(t *testing.T) {
//		t.Parallel()
//		f := framework.New(t)
//		bridge, user := f.Port(), f.Port()
//		srv := f.Burrow("server", fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d", bridge, user))
//		srv.MustWaitLog(`msg="bridge listening"`, 5*time.Second)
//		agent := f.Burrow("client", fmt.Sprintf("client://k@127.0.0.1:%d/%s", bridge, f.TCPEcho()))
//		agent.MustWaitLog(`msg="connected to bridge"`, 5*time.Second)
//		f.ExpectTCPEcho(framework.Addr(user)).Payload([]byte("hi")).Ensure()
//	}
//
// Rules: loopback only; every wait has a timeout and every loop a bound;
// wait for log lines or for traffic to work, never sleep for readiness;
// never weaken a spec to make a broken binary pass: report the failure.
package framework
