// Command xds-probe connects to an istiod as a sidecar proxy would (plaintext ADS, as on
// istiod's port 15010) and prints the endpoints istiod sends it for one Envoy cluster.
// The sandbox has no Envoy (kwok runs no containers); this shows what a sidecar in a given
// cluster and network would be told, e.g. that a service of another network is reached
// through that network's east-west gateway on 15443. Built with istioctl/pilot-discovery
// by sandbox/build/build.sh istio, from the same pinned istio.io/istio module (pkg/adsc).
//
// With -name-table it prints the DNS name table (NDS) the sidecar's agent would get instead.
// istiod answers every NDS request (pilot/pkg/xds/nds.go; pkg/dns/server BuildNameTable does
// not look at DNS_CAPTURE): whether a sidecar asks is decided by its pilot-agent, which
// starts the DNS proxy and subscribes to NDS only when ISTIO_META_DNS_CAPTURE parses as true
// for a sidecar (pkg/istio-agent/agent.go isDNSServerEnabled, xds_proxy.go NameTable handler;
// pilot/cmd/pilot-agent/options DNSCaptureByAgent). The probe does the same with the
// environment given by -proxy-metadata (a mesh's defaultConfig.proxyMetadata, which the
// injector puts into the istio-proxy container's env), and sends every ISTIO_META_<KEY> of it
// as node metadata <KEY>, as pilot-agent does.
//
// With -csr it asks istiod's CA for a workload certificate as a sidecar's pilot-agent does
// (security/pkg/nodeagent/caclient/providers/citadel): TLS to istiod's secure gRPC address (15012
// in a cluster), istiod's serving certificate verified against -root-cert for the server name
// -server-name, a new key and a CSR for spiffe://<trust domain>/ns/<namespace>/sa/<sa> (istio's
// pkiutil.GenCSR, RSA 2048 like pilot-agent's default), and IstioCertificateService/CreateCertificate
// with "authorization: Bearer <token>" (a ServiceAccount token, audience istio-ca) and the ClusterID
// header. It writes the returned chain (PEM, leaf first) to -out and prints a one-line JSON summary;
// the key stays in memory and is never written or printed.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	pstruct "google.golang.org/protobuf/types/known/structpb"

	pb "istio.io/api/security/v1alpha1"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pkg/adsc"
	dnsProto "istio.io/istio/pkg/dns/proto"
	pkiutil "istio.io/istio/security/pkg/pki/util"
)

type lbEndpoint struct {
	Address string `json:"address"`
	Port    uint32 `json:"port"`
	Weight  uint32 `json:"weight"`
}

func str(s string) *pstruct.Value {
	return &pstruct.Value{Kind: &pstruct.Value_StringValue{StringValue: s}}
}

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
	proxyMetadata := flag.String("proxy-metadata", "{}",
		"JSON object: the proxy's environment from meshConfig.defaultConfig.proxyMetadata")
	nameTable := flag.Bool("name-table", false,
		"print the DNS name table (NDS) the sidecar's agent would get (none when DNS capture is off)")
	csr := flag.Bool("csr", false,
		"ask istiod's CA (-addr: its secure gRPC address) for a workload certificate, as a sidecar does")
	rootCert := flag.String("root-cert", "", "with -csr: PEM root(s) to verify istiod's serving certificate")
	serverName := flag.String("server-name", "istiod.istio-system.svc", "with -csr: server name of istiod's certificate")
	tokenFile := flag.String("token", "", "with -csr: file holding the ServiceAccount token (audience istio-ca)")
	sa := flag.String("service-account", "default", "with -csr: ServiceAccount of the workload")
	trustDomain := flag.String("trust-domain", "cluster.local", "with -csr: trust domain of the SPIFFE id")
	ttl := flag.Duration("ttl", 24*time.Hour, "with -csr: requested validity (pilot-agent's default 24h)")
	out := flag.String("out", "", "with -csr: file to write the certificate chain to (PEM, leaf first)")
	flag.Parse()

	if *csr {
		os.Exit(requestCert(*addr, *rootCert, *serverName, *tokenFile, *trustDomain, *ns, *sa, *clusterID,
			*ttl, *out, *timeout))
	}

	env := map[string]string{}
	if err := json.Unmarshal([]byte(*proxyMetadata), &env); err != nil {
		fmt.Fprintln(os.Stderr, "-proxy-metadata is not a JSON object of strings:", err)
		os.Exit(2)
	}
	meta := &pstruct.Struct{Fields: map[string]*pstruct.Value{
		"ISTIO_VERSION": str(*version), "NETWORK": str(*network), "CLUSTER_ID": str(*clusterID),
		"NAMESPACE": str(*ns), "WORKLOAD_NAME": str(*workload),
	}}
	for k, v := range env {
		if key, ok := strings.CutPrefix(k, "ISTIO_META_"); ok && key != "" {
			meta.Fields[key] = str(v)
		}
	}
	// pilot-agent: env.Register("ISTIO_META_DNS_CAPTURE", false) (strconv.ParseBool; unset or
	// unparsable -> false), DNS server only for a sidecar (this probe is one).
	dnsCapture, _ := strconv.ParseBool(env["ISTIO_META_DNS_CAPTURE"])
	initial := []*discovery.DiscoveryRequest{{TypeUrl: v3.ClusterType}}
	if *nameTable {
		if !dnsCapture {
			b, _ := json.Marshal(map[string]any{"dns_capture": false, "name_table": nil,
				"reason": "ISTIO_META_DNS_CAPTURE is not true: the agent runs no DNS proxy and asks istiod for no name table"})
			fmt.Println(string(b))
			return
		}
		initial = []*discovery.DiscoveryRequest{{TypeUrl: v3.NameTableType}}
	}
	client, err := adsc.New(*addr, &adsc.ADSConfig{
		Config: adsc.Config{IP: *ip, Namespace: *ns, Workload: *workload, Meta: meta,
			Locality: &core.Locality{Region: "sandbox"}},
		InitialDiscoveryRequests: initial,
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
	if *nameTable {
		printNameTable(client, deadline)
		return
	}
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

// printNameTable waits for istiod's NDS response and prints host -> IPs.
func printNameTable(client *adsc.ADSC, deadline time.Time) {
	defer client.Close()
	for {
		select {
		case msg := <-client.XDSUpdates:
			if msg == nil {
				fmt.Fprintln(os.Stderr, "connection to istiod closed before a name table came")
				os.Exit(2)
			}
			if msg.TypeUrl != v3.NameTableType {
				continue
			}
			table := map[string][]string{}
			for _, rsc := range msg.Resources {
				nt := &dnsProto.NameTable{}
				if err := proto.Unmarshal(rsc.Value, nt); err != nil {
					fmt.Fprintln(os.Stderr, "bad NameTable:", err)
					os.Exit(2)
				}
				for host, info := range nt.Table {
					ips := append([]string{}, info.Ips...)
					sort.Strings(ips)
					table[host] = ips
				}
			}
			b, _ := json.Marshal(map[string]any{"dns_capture": true, "name_table": table})
			fmt.Println(string(b))
			return
		case <-time.After(time.Until(deadline)):
			fmt.Fprintln(os.Stderr, "no name table from istiod in time")
			os.Exit(1)
		}
	}
}

// requestCert sends a CSR to istiod's CA as pilot-agent does and writes the chain it gets.
func requestCert(addr, rootFile, serverName, tokenFile, trustDomain, ns, sa, clusterID string,
	ttl time.Duration, outFile string, timeout time.Duration,
) int {
	fail := func(code int, what string, err error) int {
		fmt.Fprintf(os.Stderr, "xds-probe -csr: %s: %v\n", what, err)
		return code
	}
	if rootFile == "" || tokenFile == "" || outFile == "" {
		return fail(2, "usage", fmt.Errorf("-csr needs -root-cert, -token and -out"))
	}
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		return fail(2, "root certificate", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return fail(2, "root certificate", fmt.Errorf("no PEM certificate in %s", rootFile))
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return fail(2, "token", err)
	}
	spiffeID := fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, ns, sa)
	csrPEM, _, err := pkiutil.GenCSR(pkiutil.CertOptions{Host: spiffeID, RSAKeySize: 2048})
	if err != nil {
		return fail(2, "CSR", err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return fail(2, "dial "+addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// As the citadel client: ClusterID header, bearer token (caclient.TokenProvider), CertSigner metadata.
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("ClusterID", clusterID,
		"authorization", "Bearer "+strings.TrimSpace(string(token))))
	resp, err := pb.NewIstioCertificateServiceClient(conn).CreateCertificate(ctx, &pb.IstioCertificateRequest{
		Csr:              string(csrPEM),
		ValidityDuration: int64(ttl.Seconds()),
		Metadata: &pstruct.Struct{Fields: map[string]*pstruct.Value{
			"CertSigner": str(""),
		}},
	})
	if err != nil {
		return fail(1, "CreateCertificate", err)
	}
	if len(resp.CertChain) <= 1 {
		return fail(1, "CreateCertificate", fmt.Errorf("chain of %d certificate(s)", len(resp.CertChain)))
	}
	chain := []byte{}
	subjects := []string{}
	var leaf *x509.Certificate
	for i, item := range resp.CertChain {
		rest := []byte(item)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return fail(1, fmt.Sprintf("chain entry %d", i), err)
			}
			if leaf == nil {
				leaf = cert
			}
			subjects = append(subjects, cert.Subject.String())
			chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
		}
	}
	if leaf == nil {
		return fail(1, "CreateCertificate", fmt.Errorf("no certificate in the response"))
	}
	if err := os.WriteFile(outFile, chain, 0o644); err != nil {
		return fail(2, "write "+outFile, err)
	}
	uris := []string{}
	for _, u := range leaf.URIs {
		uris = append(uris, u.String())
	}
	sum := sha256.Sum256(leaf.Raw)
	b, _ := json.Marshal(map[string]any{"requested": spiffeID, "cluster": clusterID, "leaf_uris": uris,
		"leaf_sha256": hex.EncodeToString(sum[:]), "leaf_not_after": leaf.NotAfter.UTC().Format(time.RFC3339),
		"chain_subjects": subjects, "out": outFile})
	fmt.Println(string(b))
	return 0
}
