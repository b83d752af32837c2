package deploy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The binaries are prebuilt (make test-build): no test's clock includes a
// build.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }

const wait = 20 * time.Second

var (
	manifestDir = filepath.Join("..", "..", "deploy", "kubernetes")
	rulesFile   = filepath.Join("..", "..", "deploy", "prometheus", "rules.yaml")
)

// binaryFlags reads each binary's flags from its --help.
func binaryFlags(t *testing.T) Flags {
	t.Helper()
	flags := Flags{}
	for _, name := range []string{"edge", "control"} {
		out, err := exec.Command(repotest.Bin(t, name), "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("%s --help: %v\n%s", name, err, out)
		}
		flags[name] = ParseHelp(out)
		if len(flags[name]) < 10 {
			t.Fatalf("%s --help lists %d flags: %q", name, len(flags[name]), flags[name])
		}
	}
	return flags
}

// TestManifests: every document under deploy/kubernetes decodes strictly
// into its Kubernetes type, and what the manifests say agrees with itself
// and with the binaries: every flag and SWITCHBOARD_ variable exists,
// every port a probe or a Service points at is declared and is the port a
// flag listens on, the selectors select, the grace periods outlast the
// drains, the config file is mounted.
func TestManifests(t *testing.T) {
	m, err := Load(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) != 2 || len(m.Services) < 2 || len(m.PDBs) != 2 || len(m.HPAs) != 1 {
		t.Errorf("%d deployments, %d services, %d PDBs, %d HPAs: want the edge's and control's, and an HPA",
			len(m.Deployments), len(m.Services), len(m.PDBs), len(m.HPAs))
	}
	for _, e := range Check(m, binaryFlags(t)) {
		t.Error(e)
	}
	lb := false
	for _, s := range m.Services {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			lb = true
			if s.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
				t.Errorf("service %s: the edges' balancer needs ClientIP affinity for long-polling", s.Name)
			}
		}
	}
	if !lb {
		t.Error("no LoadBalancer Service for the edges")
	}
}

// TestCheckerRefuses: the checks above can fail. A manifest with a field
// its type lacks, one with a flag the binary lacks, a probe on another
// path, a grace period inside the drain: each is reported.
func TestCheckerRefuses(t *testing.T) {
	flags := binaryFlags(t)
	for _, c := range []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "edge.yaml", "  replicas: 3\n", "  replicas: 3\n  replicaz: 3\n", "unknown field"},
		{"unknown kind", "hpa.yaml", "kind: HorizontalPodAutoscaler", "kind: HorizontalPodScaler", "not one the manifests should hold"},
		{"misspelled flag", "edge.yaml", "--drain-timeout=30s", "--drain-timout=30s", "--drain-timout: the binary has no such flag"},
		{"variable of no flag", "control.yaml", "SWITCHBOARD_CONTROL_API_KEYS", "SWITCHBOARD_CONTROL_APIKEYS", "names no flag"},
		{"probe path", "edge.yaml", "path: /readyz", "path: /ready", `want "/readyz"`},
		{"grace inside the drain", "edge.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds 30"},
		{"admin port", "control.yaml", "--admin-addr=0.0.0.0:9091", "--admin-addr=0.0.0.0:9092", "listens on 9092, which is no container port"},
		{"service target", "edge.yaml", "targetPort: socketio", "targetPort: socket", "no container of switchboard-edge declares"},
		{"HPA target", "hpa.yaml", "name: switchboard-edge\n  minReplicas", "name: switchboard-edges\n  minReplicas", "not a deployment here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			files, _ := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
			changed := false
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if filepath.Base(f) == c.file {
					if !bytes.Contains(b, []byte(c.old)) {
						t.Fatalf("%s has no %q: update the test", c.file, c.old)
					}
					b = bytes.Replace(b, []byte(c.old), []byte(c.new), 1)
					changed = true
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if !changed {
				t.Fatalf("no file %s", c.file)
			}
			var all []string
			m, err := Load(dir)
			if err != nil {
				all = append(all, err.Error())
			} else {
				for _, e := range Check(m, flags) {
					all = append(all, e.Error())
				}
			}
			if !slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("errors %q, want one with %q", all, c.want)
			}
		})
	}
}

// started is a binary run with a container's args, its addresses moved to
// free loopback ports.
type started struct {
	admin string // host:port of its admin listener
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runContainer starts the container's binary with its args, as the pod
// would, except: listen addresses on free loopback ports, NATS the test's,
// the config file the ConfigMap's content, no environment.
func runContainer(t *testing.T, m *Manifests, name, natsURL string) started {
	t.Helper()
	for _, d := range m.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name != name {
				continue
			}
			args, err := Args(c)
			if err != nil {
				t.Fatal(err)
			}
			var argv []string
			var s started
			for _, a := range args {
				v := a.Value
				switch a.Name {
				case "addr", "grpc-addr":
					v = freeAddr(t)
				case "admin-addr":
					v = freeAddr(t)
					s.admin = v
				case "nats-url":
					v = natsURL
				case "config":
					data, ok := ConfigFile(d, c, v, m.ConfigMapsByName())
					if !ok {
						t.Fatalf("--config=%s is no mounted ConfigMap key", v)
					}
					v = filepath.Join(t.TempDir(), filepath.Base(v))
					if err := os.WriteFile(v, []byte(data), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				argv = append(argv, "--"+a.Name+"="+v)
			}
			// The environment (a Secret's API keys) is left out: the
			// probes need no key, and TestManifests checks its names.
			repotest.StartProc(t, wait, 10*time.Second, name, argv...)
			return s
		}
	}
	t.Fatalf("no container %s", name)
	return started{}
}

func get(addr, path string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// probePaths are the paths of a container's probes.
func probePaths(m *Manifests, name string) []string {
	var out []string
	for _, d := range m.Deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == name {
				for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
					if p != nil && p.HTTPGet != nil {
						out = append(out, p.HTTPGet.Path)
					}
				}
			}
		}
	}
	return out
}

var typeLine = regexp.MustCompile(`(?m)^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) `)

// TestManifestsRunAndRules: each container's binary, started with the
// manifest's args (and its config file), starts and answers its probes'
// paths with 200 on its admin listener; the rules file passes Prometheus's
// own validation, and every metric its expressions name is in what those
// two processes export.
func TestManifestsRunAndRules(t *testing.T) {
	m, err := Load(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	natsURL := repotest.StartNATS(t, wait)
	exported := map[string]bool{}
	for _, name := range []string{"control", "edge"} {
		s := runContainer(t, m, name, natsURL)
		paths := probePaths(m, name)
		if len(paths) != 2 {
			t.Fatalf("%s: probe paths %q", name, paths)
		}
		for _, path := range paths {
			deadline := time.Now().Add(wait)
			for {
				code, body, err := get(s.admin, path)
				if err == nil && code == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s %s: %d %q %v", name, path, code, body, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		code, body, err := get(s.admin, "/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("%s /metrics: %d %v", name, code, err)
		}
		for _, mm := range typeLine.FindAllStringSubmatch(body, -1) {
			exported[mm[1]] = true
		}
	}
	if !exported["switchboard_edge_sessions"] || !exported["switchboard_control_edges"] {
		t.Fatalf("the scrapes lack the binaries' metrics: %d names", len(exported))
	}
	for _, e := range CheckRules(rulesFile, exported) {
		t.Error(e)
	}

	// The rule check can fail: a metric no binary exports, a rule that
	// does not parse.
	for _, c := range []struct{ old, new, want string }{
		{"switchboard_edge_queue_drops_total", "switchboard_edge_queue_dropped_total", `"switchboard_edge_queue_dropped_total" is exported by neither binary`},
		{"expr: max(switchboard_control_edges) == 0", "expr: max(switchboard_control_edges) ==", "SwitchboardControlSeesNoEdges"},
		{"    rules:\n", "    rulez:\n", "not found"},
	} {
		b, err := os.ReadFile(rulesFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(c.old)) {
			t.Fatalf("rules.yaml has no %q: update the test", c.old)
		}
		p := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(p, bytes.Replace(b, []byte(c.old), []byte(c.new), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		errs := fmt.Sprint(CheckRules(p, exported))
		if !strings.Contains(errs, c.want) {
			t.Errorf("rules with %q: errors %s, want %q", c.new, errs, c.want)
		}
	}
}
