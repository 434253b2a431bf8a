// A minimal runtime on libcni (the Go library every CNI runtime uses), for interop tests: it attaches
// networks the way cnitool does (same environment, same container ID), so tests can check that
// libcni reads the result cache tscni writes and the other way round. Built offline in the test
// set-up against Debian's libcni sources (golang-github-appc-cni-dev, libcni 1.1.2).
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "libcni-driver: "+format+"\n", args...)
	os.Exit(1)
}

// runtimeConf takes its values from the environment cnitool reads: CNI_IFNAME, CNI_ARGS, CAP_ARGS.
func runtimeConf(netnsPath string) *libcni.RuntimeConf {
	netns, err := filepath.Abs(netnsPath)
	if err != nil {
		fail("netns path %q: %v", netnsPath, err)
	}
	// cnitool's container ID: "cnitool-" and the first 10 bytes of sha512(netns path) in hex.
	sum := sha512.Sum512([]byte(netns))
	rt := &libcni.RuntimeConf{ContainerID: fmt.Sprintf("cnitool-%x", sum[:10]), NetNS: netns, IfName: "eth0"}
	if ifname := os.Getenv("CNI_IFNAME"); ifname != "" {
		rt.IfName = ifname
	}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.SplitN(pair, "=", 2)
			if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
				fail("invalid CNI_ARGS pair %q", pair)
			}
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &rt.CapabilityArgs); err != nil {
			fail("CAP_ARGS: %v", err)
		}
	}
	return rt
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: libcni-driver add|check|del <network> <netns path>")
	}
	confDir := os.Getenv("NETCONFPATH")
	if confDir == "" {
		confDir = "/etc/cni/net.d"
	}
	list, err := libcni.LoadConfList(confDir, os.Args[2])
	if err != nil {
		fail("loading network %q: %v", os.Args[2], err)
	}
	cni := libcni.NewCNIConfig(filepath.SplitList(os.Getenv("CNI_PATH")), nil)
	rt := runtimeConf(os.Args[3])
	ctx := context.Background()
	switch os.Args[1] {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			fail("add: %v", err)
		}
		_ = result.Print()
	case "check":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "del":
		err = cni.DelNetworkList(ctx, list, rt)
	default:
		fail("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail("%s: %v", os.Args[1], err)
	}
}
