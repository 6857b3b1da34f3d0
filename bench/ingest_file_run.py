#!/usr/bin/env python3
"""One `flowcast ingest-file` run into a fresh SQLite store, with what its summary line leaves out.

    bench/ingest_file_run.py LABEL BINARY CSV CONFIG STORE_DIR [extra flowcast args...]

Removes STORE_DIR, loads CSV through CONFIG's dataset into sqlite:STORE_DIR/db, and prints one
line: the load average at start, the summary's rows/s, wall time, user and system CPU, peak RSS,
and the CPU of the two busiest threads (read from /proc every 50 ms: the parser and the
committer). Run it alternately with two binaries to compare builds on a shared machine.
"""
import os
import re
import resource
import shutil
import subprocess
import sys
import time

if len(sys.argv) < 6:
    sys.exit(__doc__)
label, binary, csv, config, store_dir, extra = *sys.argv[1:6], sys.argv[6:]
shutil.rmtree(store_dir, ignore_errors=True)
load = open('/proc/loadavg').read().split()[0]
ticks = os.sysconf('SC_CLK_TCK')
start = time.time()
proc = subprocess.Popen([binary, 'ingest-file', csv, config, '--set', f'store=sqlite:{store_dir}/db']
                        + extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
threads = {}
while proc.poll() is None:
    try:
        tids = os.listdir(f'/proc/{proc.pid}/task')
    except OSError:
        break
    for tid in tids:
        try:
            stat = open(f'/proc/{proc.pid}/task/{tid}/stat').read()
        except OSError:
            continue
        name = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        threads[tid] = (name, max(cpu, threads.get(tid, ('', 0.0))[1]))
    time.sleep(0.05)
out, err = proc.communicate()
wall = time.time() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rate = re.search(rb'([0-9]+) rows/s', out)
busiest = sorted(threads.values(), key=lambda t: -t[1])[:2]
print(f"{time.strftime('%H:%M:%S')} load={load} {label} rc={proc.returncode} | "
      f"{rate.group(1).decode() if rate else '?'} rows/s | wall {wall:.2f} s user {usage.ru_utime:.2f} "
      f"sys {usage.ru_stime:.2f} maxrss {usage.ru_maxrss} kB | threads "
      + ' '.join(f'{name}:{cpu:.2f}' for name, cpu in busiest), flush=True)
if proc.returncode != 0:
    sys.stderr.write(err.decode(errors='replace')[-2000:])
    sys.exit(proc.returncode)
