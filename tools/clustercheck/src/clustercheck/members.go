package main

// clustercheck member -op add|add-learner|promote|update|remove|errors -endpoints A [-peer URL] [-id HEX]
//
// The Cluster API through clientv3, one step per call so the shell can start and stop members in
// between. Each step checks the response (the member list after the change) and prints key=value
// words: id=HEX learner=BOOL members=N initial_cluster=NAME=URL,... (for a member to start with).

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/etcdserver/etcdserverpb"
)

func cmdMember(args []string) {
	fs := flag.NewFlagSet("member", flag.ExitOnError)
	op := fs.String("op", "", "add, add-learner, promote, update, remove or errors")
	eps := fs.String("endpoints", "", "client endpoints")
	peer := fs.String("peer", "", "peer URLs (comma-separated) for add and update")
	name := fs.String("name", "new", "name of the new member in initial_cluster")
	idHex := fs.String("id", "", "member id (hex) for promote, update, remove")
	timeout := fs.Duration("timeout", 20*time.Second, "how long promote retries while the learner catches up")
	parseFlags(fs, args)
	c := newClient(splitList(*eps))
	defer c.Close()
	var id uint64
	if *idHex != "" {
		v, err := strconv.ParseUint(*idHex, 16, 64)
		if err != nil {
			fatalf("bad -id %q", *idHex)
		}
		id = v
	}
	switch *op {
	case "add", "add-learner":
		learner := *op == "add-learner"
		var resp *clientv3.MemberAddResponse
		err := withTimeout(10*time.Second, func(ctx context.Context) (err error) {
			if learner {
				resp, err = c.MemberAddAsLearner(ctx, splitList(*peer))
			} else {
				resp, err = c.MemberAdd(ctx, splitList(*peer))
			}
			return err
		})
		if err != nil {
			fatalf("%s: %v", *op, err)
		}
		m := resp.Member
		if m == nil || m.ID == 0 || m.IsLearner != learner || strings.Join(m.PeerURLs, ",") != *peer {
			fatalf("%s answered member %v", *op, m)
		}
		if findMember(resp.Members, m.ID) == nil {
			fatalf("%s: the new member %x is not in the answer's members", *op, m.ID)
		}
		checkHeader(resp.Header, *op)
		fmt.Printf("id=%x learner=%v members=%d initial_cluster=%s\n", m.ID, m.IsLearner, len(resp.Members),
			initialCluster(resp.Members, m.ID, *name))
	case "promote":
		deadline := time.Now().Add(*timeout)
		notReady := 0
		for {
			var resp *clientv3.MemberPromoteResponse
			err := withTimeout(10*time.Second, func(ctx context.Context) (err error) {
				resp, err = c.MemberPromote(ctx, id)
				return err
			})
			if err == nil {
				m := findMember(resp.Members, id)
				if m == nil || m.IsLearner {
					fatalf("promote answered members %v", resp.Members)
				}
				checkHeader(resp.Header, "promote")
				fmt.Printf("id=%x learner=false members=%d not_ready_answers=%d\n", id, len(resp.Members), notReady)
				return
			}
			if rpctypes.ErrorDesc(err) != rpctypes.ErrorDesc(rpctypes.ErrGRPCLearnerNotReady) {
				fatalf("promote %x: %v", id, err)
			}
			notReady++
			if time.Now().After(deadline) {
				fatalf("promote %x: learner not ready after %v", id, *timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	case "update":
		var resp *clientv3.MemberUpdateResponse
		err := withTimeout(10*time.Second, func(ctx context.Context) (err error) {
			resp, err = c.MemberUpdate(ctx, id, splitList(*peer))
			return err
		})
		if err != nil {
			fatalf("update %x: %v", id, err)
		}
		m := findMember(resp.Members, id)
		if m == nil || strings.Join(m.PeerURLs, ",") != *peer {
			fatalf("update answered members %v", resp.Members)
		}
		checkHeader(resp.Header, "update")
		fmt.Printf("id=%x members=%d\n", id, len(resp.Members))
	case "remove":
		var resp *clientv3.MemberRemoveResponse
		err := withTimeout(10*time.Second, func(ctx context.Context) (err error) {
			resp, err = c.MemberRemove(ctx, id)
			return err
		})
		if err != nil {
			fatalf("remove %x: %v", id, err)
		}
		if findMember(resp.Members, id) != nil {
			fatalf("remove: %x still in the answer's members", id)
		}
		checkHeader(resp.Header, "remove")
		fmt.Printf("id=%x members=%d\n", id, len(resp.Members))
	case "errors":
		// etcd's errors for a voter promoted, unknown ids, a peer URL in use; -id is a voter.
		var list *clientv3.MemberListResponse
		if err := withTimeout(5*time.Second, func(ctx context.Context) (err error) { list, err = c.MemberList(ctx); return err }); err != nil {
			fatalf("member list: %v", err)
		}
		const unknown = 0x1234567890abcdef
		expect := func(what string, want error, f func(ctx context.Context) error) {
			err := withTimeout(10*time.Second, f)
			if err == nil || rpctypes.ErrorDesc(err) != rpctypes.ErrorDesc(want) {
				fatalf("%s: got %v, want %v", what, err, want)
			}
		}
		expect("promote a voter", rpctypes.ErrGRPCMemberNotLearner, func(ctx context.Context) error { _, err := c.MemberPromote(ctx, id); return err })
		expect("promote an unknown id", rpctypes.ErrGRPCMemberNotFound, func(ctx context.Context) error { _, err := c.MemberPromote(ctx, unknown); return err })
		expect("remove an unknown id", rpctypes.ErrGRPCMemberNotFound, func(ctx context.Context) error { _, err := c.MemberRemove(ctx, unknown); return err })
		expect("update an unknown id", rpctypes.ErrGRPCMemberNotFound, func(ctx context.Context) error {
			_, err := c.MemberUpdate(ctx, unknown, []string{"http://127.0.0.1:1"})
			return err
		})
		used := list.Members[0].PeerURLs
		expect("add a peer URL in use", rpctypes.ErrGRPCPeerURLExist, func(ctx context.Context) error { _, err := c.MemberAdd(ctx, used); return err })
		fmt.Printf("errors=ok members=%d\n", len(list.Members))
	default:
		fatalf("unknown -op %q", *op)
	}
}

func findMember(ms []*etcdserverpb.Member, id uint64) *etcdserverpb.Member {
	for _, m := range ms {
		if m.ID == id {
			return m
		}
	}
	return nil
}

func checkHeader(h *etcdserverpb.ResponseHeader, op string) {
	if h == nil || h.ClusterId == 0 || h.MemberId == 0 || h.RaftTerm == 0 {
		fatalf("%s: response header %v lacks cluster id, member id or term", op, h)
	}
}

// initialCluster is what `etcdctl member add` prints as ETCD_INITIAL_CLUSTER: started members by
// name, the new one as NAME.
func initialCluster(ms []*etcdserverpb.Member, newID uint64, name string) string {
	var parts []string
	for _, m := range ms {
		n := m.Name
		if m.ID == newID {
			n = name
		} else if n == "" {
			continue
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, fmt.Sprintf("%s=%s", n, u))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
