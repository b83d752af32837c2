// Package deploy checks the Kubernetes manifests and the Prometheus rules
// under deploy/ against the Kubernetes API types, the binaries' flags and
// the metrics the binaries export.
package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// Manifests are the objects of a directory's YAML files, by kind.
type Manifests struct {
	Deployments []*appsv1.Deployment
	Services    []*corev1.Service
	ConfigMaps  []*corev1.ConfigMap
	PDBs        []*policyv1.PodDisruptionBudget
	HPAs        []*autoscalingv2.HorizontalPodAutoscaler
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Load decodes every document of every .yaml file in dir strictly: a field
// the Kubernetes type does not have, a duplicate key, or a kind this
// checker does not know is an error naming the file and the document.
func Load(dir string) (*Manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .yaml file", dir)
	}
	m := &Manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := m.add([]byte(doc)); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", filepath.Base(f), i+1, err)
			}
		}
	}
	return m, nil
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func (m *Manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(obj any) error { return yaml.UnmarshalStrict(doc, obj) }
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		o := new(appsv1.Deployment)
		m.Deployments = append(m.Deployments, o)
		return strict(o)
	case "v1 Service":
		o := new(corev1.Service)
		m.Services = append(m.Services, o)
		return strict(o)
	case "v1 ConfigMap":
		o := new(corev1.ConfigMap)
		m.ConfigMaps = append(m.ConfigMaps, o)
		return strict(o)
	case "policy/v1 PodDisruptionBudget":
		o := new(policyv1.PodDisruptionBudget)
		m.PDBs = append(m.PDBs, o)
		return strict(o)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := new(autoscalingv2.HorizontalPodAutoscaler)
		m.HPAs = append(m.HPAs, o)
		return strict(o)
	}
	return fmt.Errorf("kind %q of %q: not one the manifests should hold", tm.Kind, tm.APIVersion)
}

// Flags maps a binary's name (the container's name) to the flags its
// --help lists.
type Flags map[string][]string

var helpFlag = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)

// ParseHelp returns the flag names of a --help text.
func ParseHelp(help []byte) []string {
	var out []string
	for _, m := range helpFlag.FindAllSubmatch(help, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// Arg is one --name=value of a container's args.
type Arg struct{ Name, Value string }

// Args splits a container's args; each must have the --name=value form.
func Args(c corev1.Container) ([]Arg, error) {
	var out []Arg
	for _, a := range c.Args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			return nil, fmt.Errorf("container %s: arg %q: want --name=value", c.Name, a)
		}
		out = append(out, Arg{name, value})
	}
	return out, nil
}

// argValue is the value of --name in args, if any.
func argValue(args []Arg, name string) (string, bool) {
	for _, a := range args {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// envFlag turns SWITCHBOARD_EDGE_DRAIN_TIMEOUT into drain-timeout for
// binary edge.
func envFlag(binary, env string) (string, bool) {
	prefix := "SWITCHBOARD_" + strings.ToUpper(binary) + "_"
	if !strings.HasPrefix(env, prefix) {
		return "", false
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, prefix)), "_", "-"), true
}

// Check returns every inconsistency of the manifests: flags the binaries do
// not have, ports and probes that point nowhere or at another port than
// the flags say, selectors that select nothing, grace periods shorter than
// the drain. flags says which flags each container's binary has.
func Check(m *Manifests, flags Flags) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	configMaps := map[string]*corev1.ConfigMap{}
	for _, c := range m.ConfigMaps {
		configMaps[c.Name] = c
	}
	for _, d := range m.Deployments {
		tmpl := d.Spec.Template
		if d.Spec.Selector == nil {
			bad("deployment %s: no selector", d.Name)
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(tmpl.Labels)) {
			bad("deployment %s: its selector does not select its own pods (%v)", d.Name, err)
		}
		if len(tmpl.Spec.Containers) == 0 {
			bad("deployment %s: no container", d.Name)
		}
		for _, c := range tmpl.Spec.Containers {
			errs = append(errs, checkContainer(d, c, flags, configMaps)...)
		}
	}
	for _, s := range m.Services {
		d := selected(m, s.Spec.Selector)
		if d == nil {
			bad("service %s: its selector %v selects no deployment's pods", s.Name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPort(d.Spec.Template.Spec.Containers, p.TargetPort); !ok {
				bad("service %s: port %s targets %s, which no container of %s declares", s.Name, p.Name, p.TargetPort.String(), d.Name)
			}
		}
	}
	for _, p := range m.PDBs {
		if p.Spec.Selector == nil || selectedBy(m, p.Spec.Selector) == nil {
			bad("poddisruptionbudget %s: selects no deployment's pods", p.Name)
		}
	}
	for _, h := range m.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || !slices.ContainsFunc(m.Deployments, func(d *appsv1.Deployment) bool { return d.Name == ref.Name }) {
			bad("horizontalpodautoscaler %s: scales %s %s %q, not a deployment here", h.Name, ref.APIVersion, ref.Kind, ref.Name)
		}
	}
	return errs
}

// drains are, per binary, the flag that bounds its stop after SIGTERM.
var drains = map[string]string{"edge": "drain-timeout", "control": "shutdown-timeout"}

// listenFlags are, per binary, the flags whose host:port a container port
// must match.
var listenFlags = map[string][]string{"edge": {"addr", "admin-addr"}, "control": {"grpc-addr", "admin-addr"}}

func checkContainer(d *appsv1.Deployment, c corev1.Container, flags Flags, configMaps map[string]*corev1.ConfigMap) []error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("deployment %s, container %s: "+format, append([]any{d.Name, c.Name}, a...)...))
	}
	have, ok := flags[c.Name]
	if !ok {
		bad("no binary of that name")
		return errs
	}
	args, err := Args(c)
	if err != nil {
		return append(errs, err)
	}
	for _, a := range args {
		if !slices.Contains(have, a.Name) {
			bad("flag --%s: the binary has no such flag", a.Name)
		}
	}
	for _, e := range c.Env {
		name, ok := envFlag(c.Name, e.Name)
		if !ok || !slices.Contains(have, name) {
			bad("environment variable %s names no flag of the binary", e.Name)
		}
	}
	// Every listen address's port is a container port.
	for _, f := range listenFlags[c.Name] {
		v, ok := argValue(args, f)
		if !ok {
			bad("--%s is not set: its port would be the default's, on loopback", f)
			continue
		}
		_, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			bad("--%s=%s: want host:port", f, v)
			continue
		}
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == n }) {
			bad("--%s listens on %d, which is no container port", f, n)
		}
	}
	// Probes: on the admin listener's port, at the paths it serves.
	adminPort := -1
	if v, ok := argValue(args, "admin-addr"); ok {
		if _, p, err := net.SplitHostPort(v); err == nil {
			adminPort, _ = strconv.Atoi(p)
		}
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			bad("%s: want an httpGet probe of %s on the admin listener", pr.what, pr.path)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			bad("%s: path %q, want %q", pr.what, pr.probe.HTTPGet.Path, pr.path)
		}
		n, ok := containerPort([]corev1.Container{c}, pr.probe.HTTPGet.Port)
		if !ok || n != adminPort {
			bad("%s: port %s is not --admin-addr's (%d)", pr.what, pr.probe.HTTPGet.Port.String(), adminPort)
		}
	}
	// The grace period covers preStop and the drain.
	if f := drains[c.Name]; f != "" {
		bound, ok := argValue(args, f)
		if !ok {
			bad("--%s is not set: the grace period must be checked against it", f)
		} else if dur, err := parseSeconds(bound); err != nil {
			bad("--%s=%s: %v", f, bound, err)
		} else {
			need := dur
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				need += float64(c.Lifecycle.PreStop.Sleep.Seconds)
			}
			grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
			if grace == nil || float64(*grace) <= need {
				bad("terminationGracePeriodSeconds %v: want more than preStop + --%s (%gs), or the kubelet kills a drain", ptrString(grace), f, need)
			}
		}
	}
	// --config names a file of a mounted ConfigMap.
	if v, ok := argValue(args, "config"); ok {
		if _, ok := ConfigFile(d, c, v, configMaps); !ok {
			bad("--config=%s: no key of a mounted ConfigMap", v)
		}
	}
	return errs
}

// ConfigFile is the content of path as the container sees it, from a
// ConfigMap volume mounted at its directory.
func ConfigFile(d *appsv1.Deployment, c corev1.Container, path string, configMaps map[string]*corev1.ConfigMap) (string, bool) {
	for _, vm := range c.VolumeMounts {
		rel, err := filepath.Rel(vm.MountPath, path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			if cm := configMaps[v.ConfigMap.Name]; cm != nil {
				data, ok := cm.Data[rel]
				return data, ok
			}
		}
	}
	return "", false
}

// ConfigMapsByName indexes m's ConfigMaps.
func (m *Manifests) ConfigMapsByName() map[string]*corev1.ConfigMap {
	out := map[string]*corev1.ConfigMap{}
	for _, c := range m.ConfigMaps {
		out[c.Name] = c
	}
	return out
}

func parseSeconds(v string) (float64, error) {
	d, err := time.ParseDuration(v)
	return d.Seconds(), err
}

func ptrString(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}

// containerPort resolves a port by name or number among containers'.
func containerPort(cs []corev1.Container, p intstr.IntOrString) (int, bool) {
	for _, c := range cs {
		for _, cp := range c.Ports {
			if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
				return int(cp.ContainerPort), true
			}
		}
	}
	return 0, false
}

func selected(m *Manifests, sel map[string]string) *appsv1.Deployment {
	if len(sel) == 0 {
		return nil
	}
	return selectedBy(m, &metav1.LabelSelector{MatchLabels: sel})
}

func selectedBy(m *Manifests, ls *metav1.LabelSelector) *appsv1.Deployment {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || sel.Empty() {
		return nil
	}
	for _, d := range m.Deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return d
		}
	}
	return nil
}
