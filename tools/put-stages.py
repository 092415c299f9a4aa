#!/usr/bin/env python3
"""Where a 1-client put's time goes inside an etcd-swift leader, from syscall tracepoints.

Usage (root; a three-member cluster running put-1c1cl against its leader, 256-byte values):
    perf record -e 'syscalls:sys_enter_read,syscalls:sys_exit_read,syscalls:sys_enter_write,\
syscalls:sys_exit_write,syscalls:sys_enter_writev,syscalls:sys_exit_writev,\
syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync' -p LEADER_PID -o put.perf -- sleep 2
    perf script -i put.perf -F comm,pid,tid,cpu,time,event,trace > put.txt
    tools/put-stages.py put.txt LEADER_PID

Each put is found by the sizes of its syscalls: the client's request is read (288-368 bytes), the
appends written to the followers (the same range), the WAL fdatasync'd, a follower's
acknowledgement read (56-144 bytes), the answer handed to the client's loop (an 8-byte eventfd
write) and the response written (48-80 bytes). Prints the median and mean of each stage.
Tracing makes every syscall slower, so the stages are longer than untraced; compare runs traced
alike.
"""
import re
import statistics
import sys


def stages(lines, leader):
    line_re = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
    entered = {}
    put, done = None, []
    for line in lines:
        m = line_re.match(line)
        if not m or m.group(2) != leader:
            continue
        tid, t, event, args = m.group(3), float(m.group(5)) * 1e6, m.group(6), m.group(7)
        if event.startswith('syscalls:sys_enter_'):
            entered[tid] = (event[len('syscalls:sys_enter_'):], t)
            continue
        if not event.startswith('syscalls:sys_exit_') or tid not in entered:
            continue
        call, t0 = entered.pop(tid)
        ret = int(args, 16) if args.startswith('0x') else -1
        if ret >= 1 << 63:
            ret = -1
        if call == 'read' and 288 <= ret <= 368:
            put = {'request': t}
        elif put is None:
            continue
        elif call == 'writev' and 288 <= ret <= 368 and 'append' not in put:
            put['append'] = t0
        elif call == 'fdatasync' and 'append' in put and 'sync' not in put:
            put['sync'], put['synced'] = t0, t
        elif call == 'read' and 56 <= ret <= 144 and 'sync' in put and 'ack' not in put:
            put['ack'] = t
        elif call == 'write' and ret == 8 and 'ack' in put and 'answer' not in put:
            put['answer'] = t0
        elif call == 'write' and 48 <= ret <= 80 and 'synced' in put:
            put['response'] = t0
            done.append(put)
            put = None
    return done


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        puts = stages(f, sys.argv[2])
    print(f"{len(puts)} puts")
    for a, b, what in [('request', 'append', 'request read -> appends written'),
                       ('append', 'sync', 'appends -> own fdatasync starts'),
                       ('sync', 'synced', 'fdatasync'),
                       ('sync', 'ack', 'fdatasync start -> first acknowledgement read'),
                       ('ack', 'answer', 'acknowledgement -> answer handed to the connection'),
                       ('answer', 'response', 'answer -> response written'),
                       ('request', 'response', 'whole put on the leader')]:
        v = [p[b] - p[a] for p in puts if a in p and b in p]
        if v:
            print(f"  {what:52} median {statistics.median(v):6.0f} us  mean {statistics.mean(v):6.0f} us  ({len(v)})")


if __name__ == '__main__':
    main()
