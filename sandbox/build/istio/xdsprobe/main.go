// Command xds-probe connects to an istiod as a sidecar proxy would (plaintext ADS, as on
// istiod's port 15010) and prints the endpoints istiod sends it for one Envoy cluster.
// The sandbox has no Envoy (kwok runs no containers); this shows what a sidecar in a given
// cluster and network would be told, e.g. that a service of another network is reached
// through that network's east-west gateway on 15443. Built with istioctl/pilot-discovery
// by sandbox/build/build.sh istio, from the same pinned istio.io/istio module (pkg/adsc).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	pstruct "google.golang.org/protobuf/types/known/structpb"

	"istio.io/istio/pkg/adsc"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
)

type lbEndpoint struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	Weight  uint32 `json:"weight"`
}

func str(s string) *pstruct.Value { return &pstruct.Value{Kind: &pstruct.Value_StringValue{StringValue: s}} }

func main() {
	addr := flag.String("addr", "127.0.0.1:15010", "istiod plaintext xDS address")
	ip := flag.String("ip", "", "IP of the proxy (a pod IP of the workload it stands for)")
	ns := flag.String("namespace", "default", "namespace of the proxy")
	workload := flag.String("workload", "probe", "workload name of the proxy")
	network := flag.String("network", "", "network of the proxy (NETWORK metadata)")
	clusterID := flag.String("cluster", "", "cluster ID of the proxy (CLUSTER_ID metadata)")
	version := flag.String("istio-version", "1.30.4", "ISTIO_VERSION metadata")
	want := flag.String("envoy-cluster", "", "Envoy cluster to print, e.g. outbound|3000||svc.ns.svc.cluster.local")
	timeout := flag.Duration("timeout", 20*time.Second, "how long to wait for the endpoints")
	flag.Parse()

	meta := &pstruct.Struct{Fields: map[string]*pstruct.Value{
		"ISTIO_VERSION": str(*version), "NETWORK": str(*network), "CLUSTER_ID": str(*clusterID),
		"NAMESPACE": str(*ns), "WORKLOAD_NAME": str(*workload),
	}}
	client, err := adsc.New(*addr, &adsc.ADSConfig{
		Config: adsc.Config{IP: *ip, Namespace: *ns, Workload: *workload, Meta: meta,
			Locality: &core.Locality{Region: "sandbox"}},
		InitialDiscoveryRequests: []*discovery.DiscoveryRequest{{TypeUrl: v3.ClusterType}},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	if err := client.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		if _, err := client.Wait(time.Until(deadline), v3.EndpointType); err != nil {
			break
		}
		if cla, ok := client.GetEndpoints()[*want]; ok {
			out := []lbEndpoint{}
			for _, locality := range cla.Endpoints {
				for _, lb := range locality.LbEndpoints {
					sock := lb.GetEndpoint().GetAddress().GetSocketAddress()
					out = append(out, lbEndpoint{Address: sock.GetAddress(), Port: sock.GetPortValue(),
						Weight: lb.GetLoadBalancingWeight().GetValue()})
				}
			}
			b, _ := json.Marshal(map[string]any{"cluster": *want, "endpoints": out})
			fmt.Println(string(b))
			client.Close()
			return
		}
	}
	names := []string{}
	for name := range client.GetEndpoints() {
		names = append(names, name)
	}
	b, _ := json.Marshal(map[string]any{"cluster": *want, "endpoints": nil, "known_clusters": names})
	fmt.Println(string(b))
	client.Close()
	os.Exit(1)
}
