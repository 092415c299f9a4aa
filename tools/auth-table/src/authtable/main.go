// authtable: calls every method of every etcd v3 service with four kinds of bad credentials (no
// token, a wrong token, an expired token, the token of a user without the permission) on a fresh
// single member started with auth off and `--auth-token-ttl 2`. It turns auth on itself.
//
// For each call it prints one line: the method, the credential, the gRPC code and message, a
// short summary of any answer, and whether the member's state changed (keys, revisions, leases,
// members, users, roles, alarms, compaction, auth on). A call that fails yet changed the state is
// a FAIL. The lines are meant to be compared with the same run against real etcd 3.4, which
// decides what each call should answer.
//
// Usage: authtable -endpoint 127.0.0.1:2379. Exit 1 on a FAIL or a setup error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/auth/authpb"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var (
	conn      *grpc.ClientConn
	kv        pb.KVClient
	watch     pb.WatchClient
	lease     pb.LeaseClient
	cluster   pb.ClusterClient
	maint     pb.MaintenanceClient
	auth      pb.AuthClient
	lock      v3lockpb.LockClient
	election  v3electionpb.ElectionClient
	rootToken string
	failures  int
)

func die(what string, err error) {
	fmt.Printf("SETUP ERROR %s: %v\n", what, err)
	os.Exit(1)
}

func withToken(token string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if token != "" {
		ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("token", token))
	}
	return ctx, cancel
}

func authenticate(name, password string) string {
	ctx, cancel := withToken("")
	defer cancel()
	r, err := auth.Authenticate(ctx, &pb.AuthenticateRequest{Name: name, Password: password})
	if err != nil {
		die("authenticate "+name, err)
	}
	return r.Token
}

// asRoot runs a setup or fingerprint call as root, authenticating again once if the token expired.
func asRoot(f func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		ctx, cancel := withToken(rootToken)
		err := f(ctx)
		cancel()
		if err == nil || attempt == 1 || !strings.Contains(err.Error(), "invalid auth token") {
			return err
		}
		rootToken = authenticate("root", "rootpw")
	}
}

// fingerprint describes everything a call could change, read as root.
func fingerprint() string {
	var b strings.Builder
	err := asRoot(func(ctx context.Context) error {
		b.Reset()
		r, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "rev=%d keys:", r.Header.Revision)
		for _, k := range r.Kvs {
			fmt.Fprintf(&b, " %s=%s@%d/%d/%x", k.Key, k.Value, k.ModRevision, k.Version, k.Lease)
		}
		if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), Revision: 2}); err != nil {
			fmt.Fprintf(&b, " compacted(%v)", status.Convert(err).Message())
		}
		ls, err := lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{})
		if err != nil {
			return err
		}
		ids := []string{}
		for _, l := range ls.Leases {
			ids = append(ids, fmt.Sprintf("%x", l.ID))
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, " leases=%v", ids)
		ms, err := cluster.MemberList(ctx, &pb.MemberListRequest{})
		if err != nil {
			return err
		}
		for _, m := range ms.Members {
			fmt.Fprintf(&b, " member=%s%v%v", m.Name, m.PeerURLs, m.IsLearner)
		}
		al, err := maint.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, " alarms=%d", len(al.Alarms))
		us, err := auth.UserList(ctx, &pb.AuthUserListRequest{})
		if err != nil {
			return err
		}
		for _, u := range us.Users {
			g, err := auth.UserGet(ctx, &pb.AuthUserGetRequest{Name: u})
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " user=%s%v", u, g.Roles)
		}
		rs, err := auth.RoleList(ctx, &pb.AuthRoleListRequest{})
		if err != nil {
			return err
		}
		for _, r := range rs.Roles {
			g, err := auth.RoleGet(ctx, &pb.AuthRoleGetRequest{Role: r})
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " role=%s%v", r, g.Perm)
		}
		return nil
	})
	if err != nil {
		die("fingerprint", err)
	}
	// Auth still on: a read without a token is refused.
	ctx, cancel := withToken("")
	defer cancel()
	if _, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("/data/a")}); err == nil {
		b.WriteString(" AUTH-OFF")
	}
	return b.String()
}

// outcome formats a call's result: the gRPC status and a short summary of what came back.
func outcome(summary string, err error) string {
	if err != nil {
		s := status.Convert(err)
		return fmt.Sprintf("code=%s msg=%q", s.Code(), s.Message())
	}
	return "code=OK " + summary
}

type call struct {
	name string
	run  func(ctx context.Context) (string, error)
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint")
	flag.Parse()
	var err error
	conn, err = grpc.Dial(*endpoint, grpc.WithInsecure(), grpc.WithBlock(), grpc.WithTimeout(5*time.Second))
	if err != nil {
		die("dial", err)
	}
	kv, watch, lease = pb.NewKVClient(conn), pb.NewWatchClient(conn), pb.NewLeaseClient(conn)
	cluster, maint, auth = pb.NewClusterClient(conn), pb.NewMaintenanceClient(conn), pb.NewAuthClient(conn)
	lock, election = v3lockpb.NewLockClient(conn), v3electionpb.NewElectionClient(conn)

	leaseID, leaseWithKey := setup()
	calls := table(leaseID, leaseWithKey)

	creds := []struct{ name, token string }{
		{"none", ""},
		{"wrong", "not-a-token.17"},
	}
	run := func(credName, token string) {
		for _, c := range calls {
			before := fingerprint()
			ctx, cancel := withToken(token)
			summary, err := c.run(ctx)
			cancel()
			after := fingerprint()
			changed := "no"
			if after != before {
				changed = "yes"
			}
			fmt.Printf("%s %s: %s changed=%s\n", c.name, credName, outcome(summary, err), changed)
			if err != nil && after != before {
				failures++
				fmt.Printf("FAIL %s %s: refused, yet the state changed\n  before: %s\n  after:  %s\n", c.name, credName, before, after)
			}
		}
	}
	for _, cr := range creds {
		run(cr.name, cr.token)
	}
	// bob's token is used by every call of its run, which keeps it alive (TTL 2 s); alice's is
	// left unused until it has expired.
	run("unprivileged", authenticate("bob", "bobpw"))
	alice := authenticate("alice", "alicepw")
	time.Sleep(5 * time.Second)
	run("expired", alice)
	if failures > 0 {
		os.Exit(1)
	}
}

// setup: users root, alice (full rights on /data/) and bob (read of /other/ only); a lease, a
// lease holding /data/leased, keys under /data/; then auth on.
func setup() (int64, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must := func(what string, err error) {
		if err != nil {
			die(what, err)
		}
	}
	for _, u := range []string{"root", "alice", "bob"} {
		_, err := auth.UserAdd(ctx, &pb.AuthUserAddRequest{Name: u, Password: u + "pw"})
		must("user add", err)
	}
	for _, r := range []string{"root", "rw-data", "r-other"} {
		_, err := auth.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: r})
		must("role add", err)
	}
	_, err := auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "rw-data",
		Perm: &authpb.Permission{PermType: authpb.READWRITE, Key: []byte("/data/"), RangeEnd: []byte("/data0")}})
	must("grant rw", err)
	_, err = auth.RoleGrantPermission(ctx, &pb.AuthRoleGrantPermissionRequest{Name: "r-other",
		Perm: &authpb.Permission{PermType: authpb.READ, Key: []byte("/other/"), RangeEnd: []byte("/other0")}})
	must("grant r", err)
	for _, g := range [][2]string{{"root", "root"}, {"alice", "rw-data"}, {"bob", "r-other"}} {
		_, err := auth.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: g[0], Role: g[1]})
		must("grant role", err)
	}
	l1, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
	must("lease", err)
	l2, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 600})
	must("lease", err)
	for _, k := range []string{"/data/a", "/data/b", "/other/c"} {
		_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: []byte("v")})
		must("put", err)
	}
	_, err = kv.Put(ctx, &pb.PutRequest{Key: []byte("/data/leased"), Value: []byte("v"), Lease: l2.ID})
	must("put", err)
	_, err = auth.AuthEnable(ctx, &pb.AuthEnableRequest{})
	must("auth enable", err)
	rootToken = authenticate("root", "rootpw")
	return l1.ID, l2.ID
}

// firstMessage reads one message of a stream within its context, or says how it ended.
func firstMessage(recv func() (string, error)) (string, error) {
	s, err := recv()
	if err == io.EOF {
		return "eof", nil
	}
	return s, err
}
