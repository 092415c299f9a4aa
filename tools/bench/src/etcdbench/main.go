// etcdbench: a clientv3 load generator for comparing etcd-swift with etcd.
//
//	etcdbench put   -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -val-size 256
//	etcdbench range -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -serializable
//	etcdbench watch -endpoint 127.0.0.1:2379 -watchers 1000 -streams 10 -total 5000 -rate 500
//	etcdbench lease-keepalive -endpoint 127.0.0.1:2379 -leases 10000 -conns 8 -clients 64 -total 100000
//
// Every run is bounded by -total operations and -timeout. Prints one JSON line:
// {"op":"put","ops":N,"errors":E,"seconds":S,"qps":Q,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..}
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: etcdbench put|range [flags]")
		os.Exit(2)
	}
	op := os.Args[1]
	fs := flag.NewFlagSet(op, flag.ExitOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:2379", "client endpoint")
	conns := fs.Int("conns", 1, "gRPC connections")
	clients := fs.Int("clients", 1, "concurrent workers, spread over the connections")
	total := fs.Int("total", 10000, "operations in all")
	valSize := fs.Int("val-size", 256, "value size in bytes (put)")
	keySpace := fs.Int("key-space", 100000, "distinct keys (put)")
	key := fs.String("key", "foo", "key read by range")
	serializable := fs.Bool("serializable", false, "serializable reads (range)")
	timeout := fs.Duration("timeout", 60*time.Second, "no operation starts after this")
	watchers := fs.Int("watchers", 1000, "watchers (watch)")
	streams := fs.Int("streams", 10, "watch streams, each its own connection (watch)")
	rate := fs.Int("rate", 500, "puts per second (watch)")
	leases := fs.Int("leases", 10000, "leases kept alive (lease-keepalive)")
	fs.Parse(os.Args[2:])
	switch op {
	case "watch":
		watchBench(*endpoint, *watchers, *streams, *total, *rate, *valSize, *timeout)
		return
	case "lease-keepalive":
		leaseBench(*endpoint, *leases, *conns, *clients, *total, *timeout)
		return
	}

	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
		if err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			os.Exit(1)
		}
		defer c.Close()
		cs[i] = c
	}
	value := make([]byte, *valSize)
	rand.Read(value)

	var next, errs int64
	latencies := make([][]time.Duration, *clients)
	deadline := time.Now().Add(*timeout)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%len(cs)]
			k := make([]byte, 8)
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(*total) || time.Now().After(deadline) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				var err error
				switch op {
				case "put":
					binary.BigEndian.PutUint64(k, uint64(rand.Intn(*keySpace)))
					_, err = c.Put(ctx, string(k), string(value))
				case "range":
					opts := []clientv3.OpOption{}
					if *serializable {
						opts = append(opts, clientv3.WithSerializable())
					}
					_, err = c.Get(ctx, *key, opts...)
				default:
					fmt.Fprintln(os.Stderr, "unknown op", op)
					os.Exit(2)
				}
				cancel()
				if err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				latencies[w] = append(latencies[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	out, _ := json.Marshal(map[string]interface{}{
		"op": op, "ops": len(all), "errors": errs, "seconds": elapsed, "qps": float64(len(all)) / elapsed,
		"p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1),
		"conns": *conns, "clients": *clients,
	})
	fmt.Println(string(out))
}

func connect(endpoint string) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	return c
}

func report(op string, lat []time.Duration, errs int64, elapsed float64, extra map[string]interface{}) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	out := map[string]interface{}{"op": op, "ops": len(lat), "errors": errs, "seconds": elapsed,
		"qps": float64(len(lat)) / elapsed, "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1)}
	for k, v := range extra {
		out[k] = v
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

// watchBench: watchers on one key spread over streams; puts at a fixed rate carry their send
// time; latency is event receipt minus send time, over every watcher's every event.
func watchBench(endpoint string, watchers, streams, total, rate, valSize int, timeout time.Duration) {
	key := "watch-bench-key"
	var mu sync.Mutex
	var lat []time.Duration
	var received int64
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var ready sync.WaitGroup
	var done sync.WaitGroup
	for s := 0; s < streams; s++ {
		c := connect(endpoint)
		defer c.Close()
		for w := s; w < watchers; w += streams {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ch := c.Watch(clientv3.WithRequireLeader(ctx), key, clientv3.WithCreatedNotify())
				<-ch
				ready.Done()
				local := make([]time.Duration, 0, total)
				for r := range ch {
					now := time.Now().UnixNano()
					for _, ev := range r.Events {
						sent := int64(binary.BigEndian.Uint64(ev.Kv.Value[:8]))
						local = append(local, time.Duration(now-sent))
					}
					if len(local) >= total {
						break
					}
				}
				atomic.AddInt64(&received, int64(len(local)))
				mu.Lock()
				lat = append(lat, local...)
				mu.Unlock()
			}()
		}
	}
	ready.Wait()
	putter := connect(endpoint)
	defer putter.Close()
	value := make([]byte, valSize)
	start := time.Now()
	var errs int64
	interval := time.Second / time.Duration(rate)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		binary.BigEndian.PutUint64(value[:8], uint64(time.Now().UnixNano()))
		if _, err := putter.Put(ctx, key, string(value)); err != nil {
			errs++
		}
	}
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		cancel()
		<-finished
	}
	report("watch", lat, errs, time.Since(start).Seconds(), map[string]interface{}{"watchers": watchers, "streams": streams, "expected_events": watchers * total})
}

// leaseBench: grants the leases, then clients send keepalives round-robin over them.
func leaseBench(endpoint string, leases, conns, clients, total int, timeout time.Duration) {
	cs := make([]*clientv3.Client, conns)
	for i := range cs {
		cs[i] = connect(endpoint)
		defer cs[i].Close()
	}
	ctx := context.Background()
	ids := make([]clientv3.LeaseID, leases)
	var wg sync.WaitGroup
	var next int64
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(leases) {
					return
				}
				r, err := cs[w%conns].Grant(ctx, 600)
				if err != nil {
					fmt.Fprintln(os.Stderr, "grant:", err)
					os.Exit(1)
				}
				ids[i] = r.ID
			}
		}(w)
	}
	wg.Wait()
	lat := make([][]time.Duration, clients)
	var errs int64
	next = 0
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := cs[w%conns]
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= int64(total) || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				if _, err := c.KeepAliveOnce(ctx, ids[i%int64(leases)]); err != nil {
					atomic.AddInt64(&errs, 1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	report("lease-keepalive", all, errs, time.Since(start).Seconds(), map[string]interface{}{"leases": leases})
}
