package packaging

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
)

// dockerTimeout bounds building the image (a cold build downloads the Go
// image and every module).
const dockerTimeout = 15 * time.Minute

// The image builds, and `burrow version` in it prints the version it was
// built with. Only when a container engine answers `docker info`.
func TestDockerImage(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skipf("no docker client on PATH (%v): the image is not built", err)
	}
	if out, err := dockerRun(t, docker, time.Minute, "info"); err != nil {
		t.Skipf("no container engine answers `docker info` (%v): the image is not built\n%s", err, lastLines(out, 3))
	}
	const version = "v0.0.0-dockertest"
	image := fmt.Sprintf("burrow-packaging-test:%d", os.Getpid())
	if out, err := dockerRun(t, docker, dockerTimeout, "build", "-t", image, "--build-arg", "VERSION="+version, repoRoot(t)); err != nil {
		t.Fatalf("docker build: %v\n%s", err, lastLines(out, 40))
	}
	t.Cleanup(func() {
		if out, err := dockerRun(t, docker, time.Minute, "rmi", "-f", image); err != nil {
			t.Logf("docker rmi %s: %v\n%s", image, err, out)
		}
	})
	out, err := dockerRun(t, docker, time.Minute, "run", "--rm", image, "version")
	if err != nil {
		t.Fatalf("docker run %s version: %v\n%s", image, err, out)
	}
	if first, _, _ := strings.Cut(out, "\n"); first != "burrow "+version {
		t.Errorf("burrow version in the image starts %q, want %q:\n%s", first, "burrow "+version, out)
	}
	// The default command as a non-root user: it writes its state to the
	// /data volume and runs the plugins it finds in the installed layout.
	name := fmt.Sprintf("burrow-packaging-test-%d", os.Getpid())
	if out, err := dockerRun(t, docker, time.Minute, "run", "-d", "--name", name, image); err != nil {
		t.Fatalf("docker run -d %s: %v\n%s", image, err, out)
	}
	t.Cleanup(func() { _, _ = dockerRun(t, docker, time.Minute, "rm", "-f", name) })
	var logs string
	for range 100 { // bounded: 100 × 200 ms
		if logs, _ = dockerRun(t, docker, time.Minute, "logs", name); strings.Contains(logs, "Master started") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"Master started", "API Key created", logPluginsOn} {
		if !strings.Contains(logs, want) {
			t.Errorf("the container's master did not log %q:\n%s", want, lastLines(logs, 30))
		}
	}
}

// The image's default command and the compose example's are valid master
// URLs that keep their state in the /data volume.
func TestContainerURLs(t *testing.T) {
	root := repoRoot(t)
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "packaging", "docker", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, text string
		line       *regexp.Regexp
		api        string
	}{
		{"Dockerfile CMD", string(dockerfile), regexp.MustCompile(`(?m)^CMD (\[.*\])$`), "0.0.0.0:9090"},
		{"compose.yaml burrow command", string(compose), regexp.MustCompile(`(?m)^\s+command: (\[.*\])$`), "127.0.0.1:9090"},
	} {
		m := c.line.FindAllStringSubmatch(c.text, -1)
		if len(m) != 1 {
			t.Errorf("%s: found %d, want one", c.what, len(m))
			continue
		}
		var args []string
		if err := json.Unmarshal([]byte(m[0][1]), &args); err != nil || len(args) != 1 {
			t.Errorf("%s: %s is not one JSON string in a list: %v", c.what, m[0][1], err)
			continue
		}
		inst, err := conf.Parse(args[0])
		if err != nil {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		if inst.Scheme != conf.SchemeMaster || inst.Params.Data != "/data" || inst.Listen != c.api || !strings.HasPrefix(inst.Params.Bridge, "0.0.0.0:") {
			t.Errorf("%s: %s is not a master on %s with its bridge on 0.0.0.0 and data=/data", c.what, args[0], c.api)
		}
	}
	if !strings.Contains(string(compose), "image: ghcr.io/nodepassproject/nodepassdash") ||
		strings.Count(string(compose), "network_mode: host") != 2 {
		t.Errorf("compose.yaml does not run NodePassDash's image beside Burrow, both on the host's network")
	}
}

func dockerRun(t *testing.T, docker string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, docker, args...).CombinedOutput()
	return string(out), err
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
