package main

// status, sync and newleader: Maintenance.Status of each member, polled.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/clientv3"
	pb "go.etcd.io/etcd/etcdserver/etcdserverpb"
)

type memberStatus struct {
	endpoint string
	resp     *pb.StatusResponse
	err      error
}

func (s memberStatus) String() string {
	if s.err != nil {
		return fmt.Sprintf("endpoint=%s error=%s", s.endpoint, quote(s.err.Error()))
	}
	r := s.resp
	return fmt.Sprintf("endpoint=%s id=%x leader=%x is_leader=%v term=%d raft_index=%d applied_index=%d rev=%d",
		s.endpoint, r.Header.MemberId, r.Leader, r.Leader != 0 && r.Leader == r.Header.MemberId,
		r.RaftTerm, r.RaftIndex, r.RaftAppliedIndex, r.Header.Revision)
}

// statusPoller keeps one connection per endpoint. The raw Maintenance client fails fast while an
// endpoint is down instead of waiting for it (clientv3's wrappers wait for a connection).
type statusPoller struct {
	eps     []string
	clients []pb.MaintenanceClient
	closers []*clientv3.Client
}

func newStatusPoller(eps []string) *statusPoller {
	p := &statusPoller{eps: eps}
	for _, ep := range eps {
		c := newClient([]string{ep})
		p.closers = append(p.closers, c)
		p.clients = append(p.clients, pb.NewMaintenanceClient(c.ActiveConnection()))
	}
	return p
}

func (p *statusPoller) close() {
	for _, c := range p.closers {
		c.Close()
	}
}

func (p *statusPoller) poll(timeout time.Duration) []memberStatus {
	out := make([]memberStatus, len(p.eps))
	done := make(chan struct{}, len(p.eps))
	for i := range p.eps {
		go func(i int) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r, err := p.clients[i].Status(ctx, &pb.StatusRequest{})
			out[i] = memberStatus{endpoint: p.eps[i], resp: r, err: err}
			done <- struct{}{}
		}(i)
	}
	for range p.eps {
		<-done
	}
	return out
}

// cmdStatus prints one line per endpoint. Exit status 1 if any endpoint did not answer.
func cmdStatus(args []string) {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints")
	timeout := fs.Duration("timeout", 3*time.Second, "wait this long for endpoints to answer")
	parseFlags(fs, args)
	p := newStatusPoller(splitList(*endpoints))
	defer p.close()
	deadline := time.Now().Add(*timeout)
	var st []memberStatus
	for { // a fresh connection may need a moment; retry failed endpoints until the timeout
		st = p.poll(time.Second)
		ok := true
		for _, s := range st {
			ok = ok && s.err == nil
		}
		if ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	code := 0
	for _, s := range st {
		fmt.Println(s)
		if s.err != nil {
			code = 1
		}
	}
	os.Exit(code)
}

// cmdSync waits until every endpoint answers with the same non-zero leader, revision and raft
// index: a restarted member has caught up.
func cmdSync(args []string) {
	fs := flag.NewFlagSet("sync", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	parseFlags(fs, args)
	p := newStatusPoller(splitList(*endpoints))
	defer p.close()
	begin := time.Now()
	var st []memberStatus
	for time.Since(begin) < *timeout {
		st = p.poll(time.Second)
		if agreed(st) {
			r := st[0].resp
			fmt.Printf("leader=%x rev=%d raft_index=%d elapsed_ms=%s\n", r.Leader, r.Header.Revision, r.RaftIndex,
				ms(time.Since(begin)))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("error=%s\n", quote(fmt.Sprintf("members did not agree within %v", *timeout)))
	for _, s := range st {
		fmt.Println(s)
	}
	os.Exit(1)
}

func agreed(st []memberStatus) bool {
	for _, s := range st {
		if s.err != nil || s.resp.Leader == 0 {
			return false
		}
		a, b := s.resp, st[0].resp
		if a.Leader != b.Leader || a.Header.Revision != b.Header.Revision || a.RaftIndex != b.RaftIndex {
			return false
		}
	}
	return len(st) > 0
}

// cmdNewLeader waits until every endpoint reports the same leader, other than -old; prints the time
// since -since (unix nanoseconds, taken by the test right before it stopped the old leader).
func cmdNewLeader(args []string) {
	fs := flag.NewFlagSet("newleader", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints (the surviving members)")
	old := fs.String("old", "", "member ID (hex) of the old leader")
	since := fs.Int64("since", 0, "unix nanoseconds the old leader was stopped at (default: now)")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	parseFlags(fs, args)
	oldID, err := strconv.ParseUint(strings.TrimSpace(*old), 16, 64)
	if err != nil {
		fatalf("bad -old %q: %v", *old, err)
	}
	start := time.Now()
	if *since > 0 {
		start = time.Unix(0, *since)
	}
	p := newStatusPoller(splitList(*endpoints))
	defer p.close()
	deadline := time.Now().Add(*timeout)
	var st []memberStatus
	for time.Now().Before(deadline) {
		st = p.poll(500 * time.Millisecond)
		if allSameLeader(st, oldID) {
			r := st[0].resp
			fmt.Printf("leader=%x term=%d elapsed_ms=%s\n", r.Leader, r.RaftTerm, ms(time.Since(start)))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("error=%s\n", quote(fmt.Sprintf("no new leader within %v", *timeout)))
	for _, s := range st {
		fmt.Println(s)
	}
	os.Exit(1)
}

func allSameLeader(st []memberStatus, old uint64) bool {
	for _, s := range st {
		if s.err != nil || s.resp.Leader == 0 || s.resp.Leader == old || s.resp.Leader != st[0].resp.Leader {
			return false
		}
	}
	return len(st) > 0
}
