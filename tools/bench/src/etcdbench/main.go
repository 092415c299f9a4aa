// etcdbench: a clientv3 load generator for comparing etcd-swift with etcd.
//
//	etcdbench put   -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -val-size 256
//	etcdbench range -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -serializable
//	etcdbench watch -endpoint 127.0.0.1:2379 -watchers 1000 -streams 10 -total 5000 -rate 500
//	etcdbench lease-keepalive -endpoint 127.0.0.1:2379 -leases 10000 -conns 8 -clients 64 -total 100000
//	etcdbench txn-put -endpoints A,B,C -target-leader -conns 16 -clients 128 -total 10000 -txn-ops 4
//
// -endpoints A,B,C (instead of -endpoint) spreads the connections round-robin over several members
// (watch: the streams); -target-leader sends everything to the member that is leader when the run
// starts (watch: only the putter). -sequential-keys makes put and txn-put write key i mod -key-space
// (8-byte big-endian) instead of a random one.
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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"crypto/tls"
	"crypto/x509"
	"io/ioutil"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: etcdbench put|range|txn-put|watch|lease-keepalive [flags]")
		os.Exit(2)
	}
	op := os.Args[1]
	fs := flag.NewFlagSet(op, flag.ExitOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:2379", "client endpoint")
	endpointList := fs.String("endpoints", "", "comma-separated client endpoints, used round-robin (overrides -endpoint)")
	targetLeader := fs.Bool("target-leader", false, "connect only to the current leader among the endpoints (watch: the putter)")
	sequential := fs.Bool("sequential-keys", false, "key i mod -key-space instead of a random one (put, txn-put)")
	txnOps := fs.Int("txn-ops", 4, "puts per transaction, distinct keys (txn-put)")
	conns := fs.Int("conns", 1, "gRPC connections")
	clients := fs.Int("clients", 1, "concurrent workers, spread over the connections")
	total := fs.Int("total", 10000, "operations in all")
	valSize := fs.Int("val-size", 256, "value size in bytes (put)")
	keySpace := fs.Int("key-space", 100000, "distinct keys (put, txn-put)")
	key := fs.String("key", "foo", "key read by range")
	serializable := fs.Bool("serializable", false, "serializable reads (range)")
	timeout := fs.Duration("timeout", 60*time.Second, "no operation starts after this")
	watchers := fs.Int("watchers", 1000, "watchers (watch)")
	streams := fs.Int("streams", 10, "watch streams, each its own connection (watch)")
	rate := fs.Int("rate", 500, "puts per second (watch)")
	leases := fs.Int("leases", 10000, "leases kept alive (lease-keepalive)")
	cacert := fs.String("cacert", "", "CA bundle for https:// endpoints (client TLS)")
	user := fs.String("user", "", "user:password; each connection authenticates once (auth)")
	fs.Parse(os.Args[2:])
	if err := configureDial(*cacert, *user); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	eps := []string{*endpoint}
	if *endpointList != "" {
		eps = nil
		for _, e := range strings.Split(*endpointList, ",") {
			if e = strings.TrimSpace(e); e != "" {
				eps = append(eps, e)
			}
		}
		if len(eps) == 0 {
			fmt.Fprintln(os.Stderr, "-endpoints: no endpoint given")
			os.Exit(2)
		}
	}
	switch op {
	case "watch":
		putEP := eps[0]
		if *targetLeader {
			putEP = findLeader(eps)
		}
		watchBench(eps, putEP, *watchers, *streams, *total, *rate, *valSize, *timeout)
		return
	case "lease-keepalive":
		if *targetLeader {
			eps = []string{findLeader(eps)}
		}
		leaseBench(eps, *leases, *conns, *clients, *total, *timeout)
		return
	case "put", "range":
	case "txn-put":
		if *txnOps < 1 || *keySpace < *txnOps {
			fmt.Fprintln(os.Stderr, "txn-put: need 1 <= -txn-ops <= -key-space")
			os.Exit(2)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown op", op)
		os.Exit(2)
	}
	if *targetLeader {
		eps = []string{findLeader(eps)}
	}
	nEndpoints := len(eps)

	cs := make([]*clientv3.Client, *conns)
	for i := range cs {
		cs[i] = connect(eps[i%len(eps)])
		defer cs[i].Close()
	}
	value := make([]byte, *valSize)
	rand.Read(value)
	valStr := string(value)

	var next, errs int64
	var timedOut int32
	var firstErr atomic.Value
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
				if i >= int64(*total) {
					return
				}
				if time.Now().After(deadline) {
					atomic.StoreInt32(&timedOut, 1)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				var err error
				switch op {
				case "put":
					n := uint64(i % int64(*keySpace))
					if !*sequential {
						n = uint64(rand.Intn(*keySpace))
					}
					binary.BigEndian.PutUint64(k, n)
					_, err = c.Put(ctx, string(k), valStr)
				case "txn-put":
					base := int(i) * *txnOps
					if !*sequential {
						base = rand.Intn(*keySpace)
					}
					ops := make([]clientv3.Op, *txnOps)
					for j := range ops {
						binary.BigEndian.PutUint64(k, uint64((base+j)%*keySpace))
						ops[j] = clientv3.OpPut(string(k), valStr)
					}
					_, err = c.Txn(ctx).Then(ops...).Commit()
				case "range":
					opts := []clientv3.OpOption{}
					if *serializable {
						opts = append(opts, clientv3.WithSerializable())
					}
					_, err = c.Get(ctx, *key, opts...)
				}
				cancel()
				if err != nil {
					if atomic.AddInt64(&errs, 1) == 1 {
						firstErr.Store(err.Error())
					}
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
	res := map[string]interface{}{
		"op": op, "ops": len(all), "errors": errs, "seconds": elapsed, "qps": float64(len(all)) / elapsed,
		"p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1),
		"conns": *conns, "clients": *clients,
		"endpoints": nEndpoints, "target_leader": *targetLeader, "timed_out": timedOut == 1,
	}
	switch op {
	case "range":
		res["serializable"] = *serializable
	case "txn-put":
		res["txn_ops"] = *txnOps
	}
	if op != "range" {
		res["sequential_keys"] = *sequential
		res["key_space"] = *keySpace
	}
	if e, ok := firstErr.Load().(string); ok {
		res["first_error"] = e
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// dialBase: what every connection shares (TLS trust, credentials), set from the flags.
var dialBase clientv3.Config

func configureDial(cacert, user string) error {
	if cacert != "" {
		pem, err := ioutil.ReadFile(cacert)
		if err != nil {
			return fmt.Errorf("-cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("-cacert: no certificate in %s", cacert)
		}
		dialBase.TLS = &tls.Config{RootCAs: pool}
	}
	if user != "" {
		i := strings.Index(user, ":")
		if i < 0 {
			return fmt.Errorf("-user: want user:password")
		}
		dialBase.Username, dialBase.Password = user[:i], user[i+1:]
	}
	return nil
}

func connect(endpoint string) *clientv3.Client {
	cfg := dialBase
	cfg.Endpoints = []string{endpoint}
	cfg.DialTimeout = 5 * time.Second
	c, err := clientv3.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	return c
}

// findLeader: the endpoint whose member is the leader, asked of each endpoint in turn (an
// election may be under way: tries for up to 10 s).
func findLeader(eps []string) string {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		for _, ep := range eps {
			c := connect(ep)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r, err := c.Status(ctx, ep)
			cancel()
			c.Close()
			if err == nil && r.Header != nil && r.Leader != 0 && r.Header.MemberId == r.Leader {
				return ep
			}
		}
	}
	fmt.Fprintln(os.Stderr, "-target-leader: no leader among", eps)
	os.Exit(1)
	return ""
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
func watchBench(eps []string, putEP string, watchers, streams, total, rate, valSize int, timeout time.Duration) {
	key := "watch-bench-key"
	var mu sync.Mutex
	var lat []time.Duration
	var received int64
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var ready sync.WaitGroup
	var done sync.WaitGroup
	for s := 0; s < streams; s++ {
		c := connect(eps[s%len(eps)])
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
	putter := connect(putEP)
	defer putter.Close()
	value := make([]byte, valSize)
	start := time.Now()
	var errs int64
	var putLat []time.Duration
	interval := time.Second / time.Duration(rate)
	for i := 0; i < total && ctx.Err() == nil; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		t0 := time.Now()
		binary.BigEndian.PutUint64(value[:8], uint64(t0.UnixNano()))
		if _, err := putter.Put(ctx, key, string(value)); err != nil {
			errs++
			continue
		}
		putLat = append(putLat, time.Since(t0))
	}
	// A putter slower than -rate lowers the offered load: put_rate says what was achieved.
	putSeconds := time.Since(start).Seconds()
	sort.Slice(putLat, func(i, j int) bool { return putLat[i] < putLat[j] })
	putPct := func(p float64) float64 {
		if len(putLat) == 0 {
			return 0
		}
		return float64(putLat[int(p*float64(len(putLat)-1))].Microseconds()) / 1000
	}
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		cancel()
		<-finished
	}
	report("watch", lat, errs, time.Since(start).Seconds(), map[string]interface{}{"watchers": watchers, "streams": streams,
		"expected_events": watchers * total, "endpoints": len(eps), "put_endpoint": putEP,
		"puts": len(putLat), "put_seconds": putSeconds, "put_rate": float64(len(putLat)) / putSeconds, "target_put_rate": rate,
		"put_p50_ms": putPct(0.5), "put_p99_ms": putPct(0.99)})
}

// leaseBench: grants the leases, then clients send keepalives round-robin over them.
func leaseBench(eps []string, leases, conns, clients, total int, timeout time.Duration) {
	cs := make([]*clientv3.Client, conns)
	for i := range cs {
		cs[i] = connect(eps[i%len(eps)])
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
	report("lease-keepalive", all, errs, time.Since(start).Seconds(), map[string]interface{}{"leases": leases, "endpoints": len(eps)})
}
