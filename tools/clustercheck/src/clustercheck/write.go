package main

// write, put and verify: writers that record which puts were acknowledged, and the check that every
// acknowledged put reads back.

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type ack struct {
	key, val   string
	start, end int64 // unix nanoseconds: request issued, acknowledgement received
}

// writeAckLog writes "key<TAB>value" lines.
func writeAckLog(path string, acks []ack) {
	f, err := os.Create(path)
	if err != nil {
		fatalf("%v", err)
	}
	w := bufio.NewWriter(f)
	for _, a := range acks {
		fmt.Fprintf(w, "%s\t%s\n", a.key, a.val)
	}
	if err := w.Flush(); err != nil {
		fatalf("%v", err)
	}
	f.Close()
}

// errorTally keeps a count and the first message of each distinct error text.
type errorTally struct {
	mu     sync.Mutex
	counts map[string]int
}

func (t *errorTally) add(err error) {
	msg := err.Error()
	t.mu.Lock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[msg]++
	t.mu.Unlock()
}

func (t *errorTally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.counts {
		n += c
	}
	return n
}

// summary: the most frequent errors, "count x message; ...".
func (t *errorTally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	type kv struct {
		msg string
		n   int
	}
	var all []kv
	for m, n := range t.counts {
		all = append(all, kv{m, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	var parts []string
	for i, e := range all {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%dx %s", e.n, e.msg))
	}
	return strings.Join(parts, "; ")
}

// cmdWrite: -writers goroutines, writer i with its own client on endpoint i mod len(endpoints), each
// putting distinct keys back to back until the run ends, logging every acknowledged put.
//
// With -mark-file, the file's content (unix nanoseconds, written by the test right after it signals
// a member) is the mark. gap_ms is the longest stretch without any acknowledgement from the mark to
// the end of the run (the outage the failure caused); first_ack_ms is the time from the mark to the
// first acknowledgement of a put issued after it. The run ends -after-mark after that first
// acknowledgement, extended to -after-mark after every later recovery from a stall of more than
// 500 ms. Without a mark file the run lasts -duration. -max-duration bounds the run in any case.
func cmdWrite(args []string) {
	fs := flag.NewFlagSet("write", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints")
	writers := fs.Int("writers", 16, "concurrent writers")
	logPath := fs.String("log", "acked.log", "where to write the acknowledged puts")
	prefix := fs.String("prefix", "w/", "key prefix")
	markFile := fs.String("mark-file", "", "file holding the mark time (unix nanoseconds), written during the run")
	afterMark := fs.Duration("after-mark", 3*time.Second, "keep writing this long after the first put acknowledged after the mark")
	duration := fs.Duration("duration", 5*time.Second, "run length when there is no mark file")
	maxDuration := fs.Duration("max-duration", 30*time.Second, "upper bound of the run")
	reqTimeout := fs.Duration("req-timeout", time.Second, "timeout of each put")
	interval := fs.Duration("interval", 0, "least time from one put of a writer to its next (0: back to back)")
	parseFlags(fs, args)
	eps := splitList(*endpoints)
	if len(eps) == 0 || *writers < 1 {
		fatalf("need endpoints and writers")
	}

	begin := time.Now()
	hardStop := begin.Add(*maxDuration).UnixNano()
	var stopAt, mark int64
	if *markFile == "" {
		stopAt = begin.Add(*duration).UnixNano()
	} else {
		stopAt = hardStop
		go func() { // poll for the mark
			for time.Now().UnixNano() < atomic.LoadInt64(&stopAt) {
				if b, err := ioutil.ReadFile(*markFile); err == nil {
					if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
						atomic.StoreInt64(&mark, v)
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	// After the mark: end the run -after-mark after the first acknowledgement, and again after each
	// acknowledgement that ends a stall.
	var ackMu sync.Mutex
	var lastAck int64
	recovered := false
	noteAck := func(start, end int64) {
		ackMu.Lock()
		defer ackMu.Unlock()
		prev := lastAck
		if end > lastAck {
			lastAck = end
		}
		m := atomic.LoadInt64(&mark)
		if m == 0 || start < m {
			return
		}
		if !recovered || end-prev > int64(500*time.Millisecond) {
			until := end + int64(*afterMark)
			if until > hardStop {
				until = hardStop
			}
			if !recovered || until > atomic.LoadInt64(&stopAt) {
				atomic.StoreInt64(&stopAt, until)
			}
			recovered = true
		}
	}
	runID := strconv.FormatInt(begin.UnixNano(), 36)

	var errs errorTally
	results := make([][]ack, *writers)
	var wg sync.WaitGroup
	for i := 0; i < *writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := newClient([]string{eps[i%len(eps)]})
			defer c.Close()
			for n := 0; time.Now().UnixNano() < atomic.LoadInt64(&stopAt); n++ {
				key := fmt.Sprintf("%s%02d/%07d", *prefix, i, n)
				val := fmt.Sprintf("%s@%s", key, runID)
				start := time.Now().UnixNano()
				err := withTimeout(*reqTimeout, func(ctx context.Context) error {
					_, err := c.Put(ctx, key, val)
					return err
				})
				end := time.Now().UnixNano()
				if err != nil {
					errs.add(err)
					time.Sleep(20 * time.Millisecond) // a dead endpoint fails fast; do not spin
					continue
				}
				results[i] = append(results[i], ack{key, val, start, end})
				noteAck(start, end)
				if wait := time.Duration(start + int64(*interval) - end); wait > 0 {
					time.Sleep(wait)
				}
			}
		}(i)
	}
	wg.Wait()

	var all []ack
	for _, r := range results {
		all = append(all, r...)
	}
	writeAckLog(*logPath, all)

	// first: mark to the first acknowledgement of a put issued after it. gap: longest stretch without
	// any acknowledgement from the mark on (the mark counts as the start of the first stretch).
	// maxGap: longest stretch without any acknowledgement in the whole run.
	m := atomic.LoadInt64(&mark)
	first, afterCount := int64(-1), 0
	ends := make([]int64, 0, len(all))
	for _, a := range all {
		ends = append(ends, a.end)
		if m > 0 && a.start >= m {
			afterCount++
			if first < 0 || a.end-m < first {
				first = a.end - m
			}
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	var maxGap, gap int64
	prev := m
	for i, e := range ends {
		if i > 0 && e-ends[i-1] > maxGap {
			maxGap = e - ends[i-1]
		}
		if m > 0 && e >= m {
			if e-prev > gap {
				gap = e - prev
			}
			prev = e
		}
	}
	firstMs, gapMs := "-1", "-1"
	if first >= 0 {
		firstMs, gapMs = ms(time.Duration(first)), ms(time.Duration(gap))
	}
	fmt.Printf("acked=%d failed=%d acked_after_mark=%d gap_ms=%s first_ack_ms=%s max_ack_gap_ms=%s marked=%v seconds=%.1f errors=%s\n",
		len(all), errs.total(), afterCount, gapMs, firstMs, ms(time.Duration(maxGap)), m > 0,
		time.Since(begin).Seconds(), quote(errs.summary()))
}

// cmdPut: -count keys PREFIX%07d (value = key), spread over -clients workers and the endpoints;
// each put is retried until -timeout. Exit status 1 unless every put was acknowledged.
func cmdPut(args []string) {
	fs := flag.NewFlagSet("put", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints")
	clients := fs.Int("clients", 16, "concurrent workers")
	count := fs.Int("count", 10000, "number of keys")
	prefix := fs.String("prefix", "bulk/", "key prefix")
	logPath := fs.String("log", "bulk.log", "where to write the acknowledged puts")
	timeout := fs.Duration("timeout", 60*time.Second, "upper bound of the run")
	reqTimeout := fs.Duration("req-timeout", 2*time.Second, "timeout of each put")
	parseFlags(fs, args)
	eps := splitList(*endpoints)
	if len(eps) == 0 || *clients < 1 {
		fatalf("need endpoints and clients")
	}
	begin := time.Now()
	deadline := begin.Add(*timeout)
	var next int64 = -1
	var errs errorTally
	results := make([][]ack, *clients)
	var wg sync.WaitGroup
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := newClient([]string{eps[w%len(eps)]})
			defer c.Close()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(*count) {
					return
				}
				key := fmt.Sprintf("%s%07d", *prefix, i)
				for time.Now().Before(deadline) {
					err := withTimeout(*reqTimeout, func(ctx context.Context) error {
						_, err := c.Put(ctx, key, key)
						return err
					})
					if err == nil {
						results[w] = append(results[w], ack{key: key, val: key})
						break
					}
					errs.add(err)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}(w)
	}
	wg.Wait()
	var all []ack
	for _, r := range results {
		all = append(all, r...)
	}
	writeAckLog(*logPath, all)
	secs := time.Since(begin).Seconds()
	fmt.Printf("acked=%d missing=%d retried_errors=%d seconds=%.1f puts_per_s=%.0f errors=%s\n",
		len(all), *count-len(all), errs.total(), secs, float64(len(all))/secs, quote(errs.summary()))
	if len(all) != *count {
		os.Exit(1)
	}
}

// cmdVerify reads the whole prefix from each endpoint in pages (all pages at the first page's
// revision) and checks every acknowledged key is there with its value.
func cmdVerify(args []string) {
	fs := flag.NewFlagSet("verify", flag.ExitOnError)
	endpoints := fs.String("endpoints", "127.0.0.1:2379", "comma-separated client endpoints, each checked on its own")
	logPath := fs.String("log", "acked.log", "acknowledged puts (key<TAB>value lines)")
	prefix := fs.String("prefix", "", "key prefix to read (all acknowledged keys must be under it)")
	serializable := fs.Bool("serializable", false, "serializable reads (served by the member alone)")
	timeout := fs.Duration("timeout", 60*time.Second, "upper bound per endpoint")
	parseFlags(fs, args)
	if *prefix == "" {
		fatalf("verify needs -prefix")
	}

	want := map[string]string{}
	f, err := os.Open(*logPath)
	if err != nil {
		fatalf("%v", err)
	}
	s := bufio.NewScanner(f)
	for s.Scan() {
		kv := strings.SplitN(s.Text(), "\t", 2)
		if len(kv) == 2 {
			want[kv[0]] = kv[1]
		}
	}
	f.Close()

	bad := false
	for _, ep := range splitList(*endpoints) {
		got, rev, err := readPrefix(ep, *prefix, *serializable, *timeout)
		if err != nil {
			fmt.Printf("endpoint=%s error=%s\n", ep, quote(err.Error()))
			bad = true
			continue
		}
		missing, wrong := 0, 0
		var examples []string
		for k, v := range want {
			g, ok := got[k]
			switch {
			case !ok:
				missing++
				if len(examples) < 3 {
					examples = append(examples, "missing "+k)
				}
			case g != v:
				wrong++
				if len(examples) < 3 {
					examples = append(examples, fmt.Sprintf("%s=%q want %q", k, g, v))
				}
			}
		}
		fmt.Printf("endpoint=%s acked=%d missing=%d wrong=%d keys_under_prefix=%d rev=%d examples=%s\n",
			ep, len(want), missing, wrong, len(got), rev, quote(strings.Join(examples, ", ")))
		if missing > 0 || wrong > 0 || len(want) == 0 {
			bad = true
		}
	}
	if bad {
		os.Exit(1)
	}
}

func readPrefix(ep, prefix string, serializable bool, timeout time.Duration) (map[string]string, int64, error) {
	c := newClient([]string{ep})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	end := clientv3.GetPrefixRangeEnd(prefix)
	got := map[string]string{}
	var rev int64
	for key := prefix; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if serializable {
			opts = append(opts, clientv3.WithSerializable())
		}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		r, err := c.Get(ctx, key, opts...)
		if err != nil {
			return nil, rev, err
		}
		if rev == 0 {
			rev = r.Header.Revision
		}
		for _, kv := range r.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if !r.More || len(r.Kvs) == 0 {
			return got, rev, nil
		}
		key = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}
