// clustercheck: the Go side of tools/test-cluster.sh (three-member clusters), built with clientv3 in
// GOPATH mode like tools/crashcheck. Every subcommand is bounded in time.
//
//	clustercheck write     -endpoints A,B,C -log FILE [-mark-file F -after-mark 3s] ...  # writers, ack log, gap after a mark
//	clustercheck put       -endpoints A,B -prefix P -count 10000 -log FILE                # bulk load, every put must succeed
//	clustercheck verify    -endpoints A,B -log FILE -prefix P [-serializable]             # every acknowledged key on each endpoint
//	clustercheck status    -endpoints A,B,C                                               # one line per endpoint
//	clustercheck sync      -endpoints A,B,C -timeout 30s                                  # wait: same leader, revision, raft index
//	clustercheck newleader -endpoints A,B -old HEXID -since UNIXNANOS -timeout 15s        # wait: a leader other than OLD
//	clustercheck proxy     -map 127.0.0.1:X=127.0.0.1:Y,... -control FILE                 # peer-traffic proxy that can isolate a member
//	clustercheck member    -op add|add-learner|promote|update|remove|errors -endpoints A   # Cluster API steps (members.go)
//
// Output is plain `key=value` words on stdout so the shell can pick fields out of it; gRPC and client
// logging go to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/grpclog"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: clustercheck write|put|verify|status|sync|newleader|proxy|member [flags] (see the comment in main.go)")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// The 3.4 client logs every retried RPC at warn level; keep stderr for real trouble.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(ioutil.Discard, ioutil.Discard, os.Stderr))
	args := os.Args[2:]
	switch os.Args[1] {
	case "write":
		cmdWrite(args)
	case "put":
		cmdPut(args)
	case "verify":
		cmdVerify(args)
	case "status":
		cmdStatus(args)
	case "sync":
		cmdSync(args)
	case "newleader":
		cmdNewLeader(args)
	case "proxy":
		cmdProxy(args)
	case "member":
		cmdMember(args)
	default:
		usage()
	}
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// newClient returns a client for the given endpoints without waiting for a connection (clientv3 3.4
// dials in the background unless grpc.WithBlock is given). Reconnection back-off is capped at
// 300 ms so a restarted member is picked up quickly.
func newClient(endpoints []string) *clientv3.Client {
	lc := zap.NewProductionConfig()
	lc.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		LogConfig:   &lc,
		DialOptions: []grpc.DialOption{grpc.WithBackoffMaxDelay(300 * time.Millisecond)},
	})
	if err != nil {
		fatalf("client for %v: %v", endpoints, err)
	}
	return c
}

func fatalf(format string, a ...interface{}) {
	fmt.Println("error=" + quote(fmt.Sprintf(format, a...)))
	os.Exit(1)
}

// quote makes a value one shell word for `key=value` output.
func quote(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return "\"" + strings.ReplaceAll(s, "\"", "'") + "\""
}

func ms(d time.Duration) string { return fmt.Sprintf("%d", d.Milliseconds()) }

// withTimeout runs f with a fresh context bounded by d.
func withTimeout(d time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f(ctx)
}

func parseFlags(fs *flag.FlagSet, args []string) {
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %v\n", fs.Name(), fs.Args())
		os.Exit(2)
	}
}
