#!/usr/bin/env python3
"""Where a 1-client put's latency goes on a three-member cluster, from a loopback packet capture.

    put-breakdown.py CAPTURE LEADER_CLIENT_PORT LEADER_PEER_PORT PEER_PORT...

CAPTURE is `tcpdump -i lo -nn -tt` output of the leader's client port and every member's peer
port while one client puts (bench-cluster.sh BREAKDOWN=1 makes it). Per put it finds:

  request       the client's request (a segment over 100 bytes to the leader's client port)
  append        the leader's first append carrying the entry (over 100 bytes from its peer port)
  second        its append to the other follower
  ack           the first follower answer after the append (a small segment from a follower's
                peer port)
  response      the leader's answer to the client (40-100 bytes from its client port)

and prints the median and mean of request->append (leader: client call to raft to the wire),
append->ack (network, follower fsync, back), ack->response (commit, apply, answer) and
append->second (the leader's two peer writes), and the whole. Segments are matched by size,
which suits 256-byte values and both etcd's and etcd-swift's framing; puts whose segments do not
line up within 40 packets are skipped (the count printed says how many were used).
"""
import statistics
import sys


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    path, client, leader_peer = sys.argv[1], sys.argv[2], sys.argv[3]
    peers = set(sys.argv[4:])
    packets = []
    with open(path) as f:
        for line in f:
            p = line.split()
            # 1796179611.456015 IP 127.0.0.1.32380 > 127.0.0.1.39196: Flags [P.], ..., length 324
            if len(p) < 8 or p[3] != ">" or p[-2] != "length":
                continue
            try:
                packets.append((float(p[0]), p[2].rsplit(".", 1)[1], p[4].rstrip(":").rsplit(".", 1)[1], int(p[-1])))
            except ValueError:
                continue
    stages = {"request->append": [], "append->ack": [], "ack->response": [], "append->second": [], "total": []}
    for i, (t, src, dst, n) in enumerate(packets):
        if dst != client or n <= 100:
            continue
        append = second = ack = response = None
        for t2, s2, d2, n2 in packets[i + 1:i + 40]:
            if append is None:
                if s2 == leader_peer and n2 > 100:
                    append = t2
            elif second is None and s2 == leader_peer and n2 > 100:
                second = t2
            elif ack is None and s2 in peers and s2 != leader_peer and 0 < n2 < 100:
                ack = t2
            elif ack is not None and s2 == client and 40 < n2 < 100:
                response = t2
                break
        if append is None or ack is None or response is None:
            continue
        us = lambda a, b: (b - a) * 1e6
        stages["request->append"].append(us(t, append))
        stages["append->ack"].append(us(append, ack))
        stages["ack->response"].append(us(ack, response))
        stages["total"].append(us(t, response))
        if second is not None:
            stages["append->second"].append(us(append, second))
    for name, xs in stages.items():
        if xs:
            print("  %-16s n=%-5d p50=%5.0f us  mean=%5.0f us" % (name, len(xs), statistics.median(xs), statistics.mean(xs)))
        else:
            print("  %-16s no complete puts found" % name)


if __name__ == "__main__":
    main()
