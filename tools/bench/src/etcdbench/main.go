// etcdbench: a clientv3 load generator for comparing etcd-swift with etcd.
//
//	etcdbench put   -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -val-size 256
//	etcdbench range -endpoint 127.0.0.1:2379 -conns 32 -clients 256 -total 40000 -serializable
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
	fs.Parse(os.Args[2:])

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
