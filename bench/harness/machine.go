package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where a run happened.
type Machine struct {
	CPUs            int    `json:"cpus"`
	CPUModel        string `json:"cpu_model"`
	Memory          string `json:"memory"`
	Kernel          string `json:"kernel"`
	GoVersion       string `json:"go_version"`
	NodeVersion     string `json:"node_version"`
	SocketIOVersion string `json:"socketio_version"`
	Commit          string `json:"commit"`
	OpenFilesLimit  uint64 `json:"open_files_limit"`
	PortRange       string `json:"ip_local_port_range"`
	Somaxconn       string `json:"somaxconn"`
}

func machineInfo(repo string, nofile uint64) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OpenFilesLimit: nofile}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	m.PortRange = strings.Join(strings.Fields(readTrim("/proc/sys/net/ipv4/ip_local_port_range")), "-")
	m.Somaxconn = readTrim("/proc/sys/net/core/somaxconn")
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.NodeVersion = strings.TrimSpace(string(out))
	} else {
		m.NodeVersion = "not found"
	}
	var pkg struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(repo, "node_modules", "socket.io", "package.json")); err == nil && json.Unmarshal(b, &pkg) == nil {
		m.SocketIOVersion = pkg.Version
	} else {
		m.SocketIOVersion = "not installed"
	}
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = repo
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	} else {
		m.Commit = "unknown"
	}
	return m
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
