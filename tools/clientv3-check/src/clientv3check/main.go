// clientv3check: behaviour checks of Watch and Lease through Go's clientv3, the client most etcd
// users run. Usage: clientv3check -endpoint 127.0.0.1:2379. Prints PASS/FAIL per check and
// "N passed, M failed"; exits 1 on any failure. Every wait is bounded.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/concurrency"
	"go.etcd.io/etcd/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/etcdserver/api/v3lock/v3lockpb"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

var passed, failed int

func check(name string, err error) {
	if err != nil {
		failed++
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	passed++
	fmt.Printf("PASS %s\n", name)
}

// next receives one watch response within the timeout.
func next(ch clientv3.WatchChan, d time.Duration) (clientv3.WatchResponse, error) {
	select {
	case r, ok := <-ch:
		if !ok {
			return r, fmt.Errorf("watch channel closed")
		}
		return r, nil
	case <-time.After(d):
		return clientv3.WatchResponse{}, fmt.Errorf("no watch response within %v", d)
	}
}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint")
	flag.Parse()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(1)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pfx := fmt.Sprintf("/check-%d/", time.Now().UnixNano())

	check("watch replays history from a start revision, in order", func() error {
		first, err := c.Put(ctx, pfx+"h", "1")
		if err != nil {
			return err
		}
		c.Put(ctx, pfx+"h", "2")
		c.Delete(ctx, pfx+"h")
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		ch := c.Watch(wctx, pfx+"h", clientv3.WithRev(first.Header.Revision))
		var got []string
		for len(got) < 3 {
			r, err := next(ch, 5*time.Second)
			if err != nil {
				return fmt.Errorf("%v after %v", err, got)
			}
			for _, ev := range r.Events {
				got = append(got, fmt.Sprintf("%s:%s@%d", ev.Type, ev.Kv.Value, ev.Kv.ModRevision))
			}
		}
		want := fmt.Sprintf("[PUT:1@%d PUT:2@%d DELETE:@%d]", first.Header.Revision, first.Header.Revision+1, first.Header.Revision+2)
		if fmt.Sprint(got) != want {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	}())

	check("watch with prev_kv carries the previous value", func() error {
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		c.Put(ctx, pfx+"p", "old")
		ch := c.Watch(wctx, pfx+"p", clientv3.WithPrevKV())
		time.Sleep(100 * time.Millisecond)
		c.Put(ctx, pfx+"p", "new")
		r, err := next(ch, 5*time.Second)
		if err != nil {
			return err
		}
		if len(r.Events) != 1 || r.Events[0].PrevKv == nil || string(r.Events[0].PrevKv.Value) != "old" {
			var got []string
			for _, ev := range r.Events {
				got = append(got, fmt.Sprintf("%s %q@%d prev=%v", ev.Type, ev.Kv.Value, ev.Kv.ModRevision, ev.PrevKv))
			}
			return fmt.Errorf("unexpected events %v", got)
		}
		return nil
	}())

	check("watch from a compacted revision is cancelled with compact_revision", func() error {
		p1, _ := c.Put(ctx, pfx+"c", "1")
		p2, _ := c.Put(ctx, pfx+"c", "2")
		if _, err := c.Compact(ctx, p2.Header.Revision); err != nil {
			return err
		}
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		r, err := next(c.Watch(wctx, pfx+"c", clientv3.WithRev(p1.Header.Revision)), 5*time.Second)
		if err != nil {
			return err
		}
		if r.CompactRevision != p2.Header.Revision || !r.Canceled {
			return fmt.Errorf("compact_revision %d canceled %v, want %d true", r.CompactRevision, r.Canceled, p2.Header.Revision)
		}
		return nil
	}())

	check("progress request answers with the current revision", func() error {
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		ch := c.Watch(wctx, pfx+"progress")
		time.Sleep(100 * time.Millisecond)
		last, _ := c.Put(ctx, pfx+"other", "x")
		if err := c.RequestProgress(wctx); err != nil {
			return err
		}
		r, err := next(ch, 5*time.Second)
		if err != nil {
			return err
		}
		if !r.IsProgressNotify() || r.Header.Revision < last.Header.Revision {
			return fmt.Errorf("progress notify %v at revision %d, want >= %d", r.IsProgressNotify(), r.Header.Revision, last.Header.Revision)
		}
		return nil
	}())

	check("lease expiry deletes the key and emits DELETE", func() error {
		l, err := c.Grant(ctx, 2)
		if err != nil {
			return err
		}
		c.Put(ctx, pfx+"e", "v", clientv3.WithLease(l.ID))
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		ch := c.Watch(wctx, pfx+"e")
		r, err := next(ch, 10*time.Second)
		if err != nil {
			return err
		}
		if len(r.Events) != 1 || r.Events[0].Type != mvccpb.DELETE {
			var got []string
			for _, ev := range r.Events {
				got = append(got, fmt.Sprintf("%s %q@%d prev=%v", ev.Type, ev.Kv.Value, ev.Kv.ModRevision, ev.PrevKv))
			}
			return fmt.Errorf("unexpected events %v", got)
		}
		g, _ := c.Get(ctx, pfx+"e")
		if len(g.Kvs) != 0 {
			return fmt.Errorf("key still there")
		}
		return nil
	}())

	check("keepalive keeps a key past its TTL", func() error {
		l, err := c.Grant(ctx, 2)
		if err != nil {
			return err
		}
		c.Put(ctx, pfx+"k", "v", clientv3.WithLease(l.ID))
		kctx, kcancel := context.WithCancel(ctx)
		defer kcancel()
		ka, err := c.KeepAlive(kctx, l.ID)
		if err != nil {
			return err
		}
		go func() {
			for range ka {
			}
		}()
		time.Sleep(5 * time.Second)
		g, _ := c.Get(ctx, pfx+"k")
		if len(g.Kvs) != 1 {
			return fmt.Errorf("key expired despite keepalives")
		}
		t, err := c.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil || t.TTL <= 0 || len(t.Keys) != 1 {
			return fmt.Errorf("time to live %+v %v", t, err)
		}
		_, err = c.Revoke(ctx, l.ID)
		return err
	}())

	check("a slow watcher does not stall writes and still gets every event", func() error {
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		ch := c.Watch(wctx, pfx+"slow/", clientv3.WithPrefix())
		time.Sleep(100 * time.Millisecond)
		const n = 2000
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 16 {
					c.Put(ctx, fmt.Sprintf("%sslow/%05d", pfx, i), strings.Repeat("x", 1000))
				}
			}(w)
		}
		wg.Wait()
		writes := time.Since(start)
		got := 0
		for got < n {
			time.Sleep(time.Millisecond) // a slow consumer
			r, err := next(ch, 10*time.Second)
			if err != nil {
				return fmt.Errorf("%v after %d events", err, got)
			}
			got += len(r.Events)
		}
		if got != n {
			return fmt.Errorf("got %d events, want %d", got, n)
		}
		fmt.Printf("     (2000 puts took %v while the watcher was not reading)\n", writes.Round(time.Millisecond))
		return nil
	}())

	check("concurrency.Mutex: a second locker waits until the first unlocks", func() error {
		s1, err := concurrency.NewSession(c, concurrency.WithTTL(10))
		if err != nil {
			return err
		}
		defer s1.Close()
		s2, err := concurrency.NewSession(c, concurrency.WithTTL(10))
		if err != nil {
			return err
		}
		defer s2.Close()
		m1 := concurrency.NewMutex(s1, pfx+"mutex")
		m2 := concurrency.NewMutex(s2, pfx+"mutex")
		if err := m1.Lock(ctx); err != nil {
			return err
		}
		acquired := make(chan error, 1)
		go func() { acquired <- m2.Lock(ctx) }()
		select {
		case <-acquired:
			return fmt.Errorf("second locker got the lock while the first held it")
		case <-time.After(500 * time.Millisecond):
		}
		if err := m1.Unlock(ctx); err != nil {
			return err
		}
		select {
		case err := <-acquired:
			if err != nil {
				return err
			}
		case <-time.After(5 * time.Second):
			return fmt.Errorf("second locker never got the lock")
		}
		return m2.Unlock(ctx)
	}())

	check("concurrency.Election: campaign, observe, resign hands over leadership", func() error {
		s1, _ := concurrency.NewSession(c, concurrency.WithTTL(10))
		defer s1.Close()
		s2, _ := concurrency.NewSession(c, concurrency.WithTTL(10))
		defer s2.Close()
		e1 := concurrency.NewElection(s1, pfx+"election")
		e2 := concurrency.NewElection(s2, pfx+"election")
		if err := e1.Campaign(ctx, "one"); err != nil {
			return err
		}
		octx, ocancel := context.WithCancel(ctx)
		defer ocancel()
		obs := e1.Observe(octx)
		won := make(chan error, 1)
		go func() { won <- e2.Campaign(ctx, "two") }()
		first := <-obs
		if string(first.Kvs[0].Value) != "one" {
			return fmt.Errorf("observed %q first", first.Kvs[0].Value)
		}
		if err := e1.Resign(ctx); err != nil {
			return err
		}
		select {
		case err := <-won:
			if err != nil {
				return err
			}
		case <-time.After(5 * time.Second):
			return fmt.Errorf("second candidate never won")
		}
		l, err := e2.Leader(ctx)
		if err != nil || string(l.Kvs[0].Value) != "two" {
			return fmt.Errorf("leader %v %v", l, err)
		}
		return e2.Resign(ctx)
	}())

	check("concurrency STM: concurrent transfers keep the total", func() error {
		for _, k := range []string{"a", "b"} {
			c.Put(ctx, pfx+"stm/"+k, "100")
		}
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				from, to := pfx+"stm/a", pfx+"stm/b"
				if i%2 == 1 {
					from, to = to, from
				}
				_, err := concurrency.NewSTM(c, func(stm concurrency.STM) error {
					var f, t int
					fmt.Sscan(stm.Get(from), &f)
					fmt.Sscan(stm.Get(to), &t)
					stm.Put(from, fmt.Sprint(f-i))
					stm.Put(to, fmt.Sprint(t+i))
					return nil
				})
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		ga, _ := c.Get(ctx, pfx+"stm/a")
		gb, _ := c.Get(ctx, pfx+"stm/b")
		var a, b int
		fmt.Sscan(string(ga.Kvs[0].Value), &a)
		fmt.Sscan(string(gb.Kvs[0].Value), &b)
		if a+b != 200 {
			return fmt.Errorf("total %d, want 200", a+b)
		}
		return nil
	}())

	check("v3lockpb.Lock service: lock, contend, unlock", func() error {
		lc := v3lockpb.NewLockClient(c.ActiveConnection())
		l, err := c.Grant(ctx, 30)
		if err != nil {
			return err
		}
		held, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(pfx + "svc-lock"), Lease: int64(l.ID)})
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(held.Key), pfx+"svc-lock/") {
			return fmt.Errorf("lock key %q", held.Key)
		}
		l2, _ := c.Grant(ctx, 30)
		second := make(chan error, 1)
		go func() {
			r, err := lc.Lock(ctx, &v3lockpb.LockRequest{Name: []byte(pfx + "svc-lock"), Lease: int64(l2.ID)})
			if err == nil {
				_, err = lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r.Key})
			}
			second <- err
		}()
		select {
		case <-second:
			return fmt.Errorf("second Lock returned while the lock was held")
		case <-time.After(500 * time.Millisecond):
		}
		if _, err := lc.Unlock(ctx, &v3lockpb.UnlockRequest{Key: held.Key}); err != nil {
			return err
		}
		select {
		case err := <-second:
			return err
		case <-time.After(5 * time.Second):
			return fmt.Errorf("second Lock never returned")
		}
	}())

	check("v3electionpb.Election service: campaign, leader, proclaim, resign", func() error {
		ec := v3electionpb.NewElectionClient(c.ActiveConnection())
		l, err := c.Grant(ctx, 30)
		if err != nil {
			return err
		}
		name := []byte(pfx + "svc-election")
		if _, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name}); err == nil || !strings.Contains(err.Error(), "election: no leader") {
			return fmt.Errorf("leader of an empty election: %v", err)
		}
		camp, err := ec.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: int64(l.ID), Value: []byte("v1")})
		if err != nil {
			return err
		}
		if _, err := ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: camp.Leader, Value: []byte("v2")}); err != nil {
			return err
		}
		lead, err := ec.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
		if err != nil || string(lead.Kv.Value) != "v2" {
			return fmt.Errorf("leader %v %v", lead, err)
		}
		if _, err := ec.Resign(ctx, &v3electionpb.ResignRequest{Leader: camp.Leader}); err != nil {
			return err
		}
		stale := *camp.Leader
		if _, err := ec.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: &stale, Value: []byte("v3")}); err == nil || !strings.Contains(err.Error(), "election: not leader") {
			return fmt.Errorf("proclaim after resign: %v", err)
		}
		return nil
	}())

	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
