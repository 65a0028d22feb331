// CoreDNS with only the plugins the local node uses (a custom build as CoreDNS documents it: the directives list
// in execution order, the plugins imported for their setup functions), so the build leaves out the cloud SDKs.
// The cluster's DNS: <svc>.<ns>.svc.cluster.local, <pod-hostname>.<subdomain>.<ns>.svc.cluster.local, reverse
// lookups; nothing is forwarded (no traffic leaves the machine).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order of core/dnsserver/zdirectives.go for the plugins above.
var directives = []string{
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
