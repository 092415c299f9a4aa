// crashcheck: acknowledged writes must survive a crash.
//
//	crashcheck write  -endpoint E -log FILE -writers 32 -duration 3s   # puts distinct keys, logs each acknowledged one
//	crashcheck verify -endpoint E -log FILE                            # every logged key must be there
//
// The test kills the server with SIGKILL while `write` runs, restarts it, then runs `verify`.
// Writes are bounded by -duration and a per-request timeout; errors after the kill are expected.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: crashcheck write|verify [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	endpoint := fs.String("endpoint", "127.0.0.1:2379", "client endpoint")
	logPath := fs.String("log", "acked.log", "file of acknowledged keys")
	writers := fs.Int("writers", 32, "concurrent writers")
	duration := fs.Duration("duration", 3*time.Second, "how long to write")
	fs.Parse(os.Args[2:])
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(1)
	}
	defer c.Close()

	switch os.Args[1] {
	case "write":
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		var mu sync.Mutex
		w := bufio.NewWriter(f)
		deadline := time.Now().Add(*duration)
		var wg sync.WaitGroup
		for i := 0; i < *writers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for n := 0; time.Now().Before(deadline); n++ {
					key := fmt.Sprintf("crash/%02d/%06d", i, n)
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_, err := c.Put(ctx, key, key)
					cancel()
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					fmt.Fprintln(w, key)
					w.Flush()
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		f.Close()
	case "verify":
		f, err := os.Open(*logPath)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		acked, missing := 0, 0
		s := bufio.NewScanner(f)
		for s.Scan() {
			acked++
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := c.Get(ctx, s.Text())
			cancel()
			if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != s.Text() {
				missing++
				if missing <= 5 {
					fmt.Println("missing acknowledged key", s.Text(), err)
				}
			}
		}
		fmt.Printf("%d acknowledged, %d missing\n", acked, missing)
		if missing > 0 || acked == 0 {
			os.Exit(1)
		}
	}
}
