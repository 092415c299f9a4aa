package main

// proxy: TCP forwarders for the members' peer traffic, so the test can cut one member off from the
// others without root (no netns, no iptables).
//
// Every member advertises a proxy port as its peer URL and listens on its real peer port behind
// it, so every peer connection in the cluster passes the proxy. Peer connections go both ways: the
// others dial member k (through k's proxy listener) and k dials the others (through theirs); in
// etcd's rafthttp each side receives the other's messages over the streams it dialed itself. To
// isolate k both kinds are blackholed:
//   - every connection accepted on k's proxy listener, and
//   - every connection, on any listener, whose dialing socket belongs to k's process: the proxy
//     looks up the client port in /proc/net/tcp{,6} and the socket inodes in /proc/PID/fd.
//
// A blackholed connection stays open but forwards nothing (bytes from either side are read and
// dropped), like a network partition; new connections of the isolated member are accepted and
// blackholed the same way. Healing closes the blackholed connections (their streams are broken
// mid-message anyway) so both ends reconnect at once.
//
// Control file (-control), polled every 20 ms, written atomically by the test:
//
//	gen N                       # required; the proxy writes N to CONTROL.ack once it is in effect
//	isolate LISTENADDR PID      # optional: isolate the member behind LISTENADDR, running as PID
//
// A file with only "gen N" heals.

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type isolation struct {
	listen string // proxy listener in front of the isolated member
	pid    int    // the isolated member's process
}

type proxyConn struct {
	listen     string
	clientPort int
	client     net.Conn
	upstream   net.Conn // nil when blackholed from the start
	blackholed int32
	closeOnce  sync.Once
}

func (c *proxyConn) close() {
	c.closeOnce.Do(func() {
		c.client.Close()
		if c.upstream != nil {
			c.upstream.Close()
		}
	})
}

type proxy struct {
	mu    sync.Mutex
	rule  *isolation
	conns map[*proxyConn]struct{}
	log   *os.File
}

func (p *proxy) logf(format string, a ...interface{}) {
	fmt.Fprintf(p.log, "%s proxy: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, a...))
}

func cmdProxy(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	mapping := fs.String("map", "", "LISTEN=UPSTREAM,... (e.g. 127.0.0.1:20006=127.0.0.1:20003)")
	control := fs.String("control", "", "control file (see proxy.go)")
	lifetime := fs.Duration("lifetime", 15*time.Minute, "exit after this long in any case")
	parseFlags(fs, args)
	if *control == "" || *mapping == "" {
		fatalf("proxy needs -map and -control")
	}
	p := &proxy{conns: map[*proxyConn]struct{}{}, log: os.Stdout}
	for _, m := range splitList(*mapping) {
		lu := strings.SplitN(m, "=", 2)
		if len(lu) != 2 {
			fatalf("bad -map entry %q", m)
		}
		ln, err := net.Listen("tcp", lu[0])
		if err != nil {
			fatalf("listen %s: %v", lu[0], err)
		}
		go p.serve(ln, lu[0], lu[1])
	}
	p.logf("listening: %s", *mapping)
	go func() {
		time.Sleep(*lifetime)
		p.logf("lifetime %v over, exiting", *lifetime)
		os.Exit(0)
	}()
	applied := ""
	for {
		b, err := ioutil.ReadFile(*control)
		if err == nil && string(b) != applied {
			gen, rule, err := parseControl(string(b))
			if err != nil {
				p.logf("control file: %v", err)
			} else {
				p.apply(rule)
				tmp := *control + ".ack.tmp"
				if err := ioutil.WriteFile(tmp, []byte(gen+"\n"), 0o644); err == nil {
					os.Rename(tmp, *control+".ack")
				}
			}
			applied = string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseControl(s string) (gen string, rule *isolation, err error) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "gen" && len(f) == 2:
			gen = f[1]
		case f[0] == "isolate" && len(f) == 3:
			pid, err := strconv.Atoi(f[2])
			if err != nil {
				return "", nil, fmt.Errorf("bad pid in %q", line)
			}
			rule = &isolation{listen: f[1], pid: pid}
		default:
			return "", nil, fmt.Errorf("bad line %q", line)
		}
	}
	if gen == "" {
		return "", nil, fmt.Errorf("no gen line")
	}
	return gen, rule, nil
}

// apply switches to a new rule: blackholes the matching open connections, or (rule nil) closes
// every blackholed connection.
func (p *proxy) apply(rule *isolation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = rule
	n := 0
	if rule == nil {
		for c := range p.conns {
			if atomic.LoadInt32(&c.blackholed) == 1 {
				c.close()
				n++
			}
		}
		p.logf("no isolation: closed %d blackholed connections", n)
		return
	}
	ports := socketPortsOf(rule.pid)
	for c := range p.conns {
		if c.listen == rule.listen || ports[c.clientPort] {
			atomic.StoreInt32(&c.blackholed, 1)
			n++
		}
	}
	p.logf("isolating member behind %s (pid %d, %d sockets): blackholed %d of %d open connections",
		rule.listen, rule.pid, len(ports), n, len(p.conns))
}

func (p *proxy) serve(ln net.Listener, listen, upstream string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			p.logf("accept on %s: %v", listen, err)
			return
		}
		go p.handle(conn, listen, upstream)
	}
}

func (p *proxy) handle(conn net.Conn, listen, upstream string) {
	c := &proxyConn{listen: listen, client: conn}
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.clientPort = a.Port
	}
	p.mu.Lock()
	if r := p.rule; r != nil && (r.listen == listen || socketPortsOf(r.pid)[c.clientPort]) {
		c.blackholed = 1
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()

	if atomic.LoadInt32(&c.blackholed) == 1 {
		io.Copy(ioutil.Discard, conn) // until healed (closed) or the dialer gives up
		return
	}
	up, err := net.DialTimeout("tcp", upstream, 2*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	c.upstream = up
	blackholedMeanwhile := atomic.LoadInt32(&c.blackholed) == 1
	p.mu.Unlock()
	if blackholedMeanwhile {
		io.Copy(ioutil.Discard, conn)
		return
	}
	done := make(chan struct{}, 2)
	go func() { c.pump(up, conn); done <- struct{}{} }()
	go func() { c.pump(conn, up); done <- struct{}{} }()
	<-done // one side ended: close both, which ends the other pump
	c.close()
	<-done
}

// pump copies src to dst until an error; once the connection is blackholed it drops what it reads.
func (c *proxyConn) pump(dst, src net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 && atomic.LoadInt32(&c.blackholed) == 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// socketPortsOf returns the local TCP ports of the sockets process pid has open.
func socketPortsOf(pid int) map[int]bool {
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		s.Scan() // header
		for s.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(s.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			if i := strings.LastIndexByte(fields[1], ':'); i >= 0 {
				if port, err := strconv.ParseInt(fields[1][i+1:], 16, 32); err == nil {
					ports[int(port)] = true
				}
			}
		}
		f.Close()
	}
	return ports
}
