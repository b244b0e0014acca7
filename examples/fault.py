#!/usr/bin/env python3
"""Fault injection for taskyard: kill -9 the server twice while 200 jobs run, then fill its disk; check what survived.

    python3 examples/fault.py [--seed N] [--keep] [--no-storage] [BINARY]

BINARY defaults to $TASKYARD_BIN, then target/release/taskyard, then target/debug/taskyard (relative to the
repository). The script builds nothing. It uses a fresh temporary directory (SQLite file, side-effect file, server
logs) and a free port, and removes the directory when every check passes (kept with --keep or on failure).

What it does:
  1. starts `taskyard serve` (max concurrency 8, lease 2 s, allow-list sh/sleep/echo);
  2. creates 20 `sh -c` tasks, half with the retry policy
     {"max_attempts": 3, "on": ["lost", "interrupted"], "initial_delay_seconds": 0}, and executes 200 jobs
     (sleep 0-3 s, 0-200 output lines); every run appends `S <TASKYARD_JOB_ID> <TASKYARD_ATTEMPT> <pid>` to a
     side-effect file when it starts and `E ...` when it finishes;
  3. follows 30 of the jobs over SSE ($stream), reconnecting with Last-Event-ID whenever the connection breaks;
  4. kill -9s the server twice at random moments while jobs run, restarting it on the same database each time;
     about a second after each restart, looks for job processes left over from the dead server;
  5. waits (bounded) for every job to be terminal and checks:
     (a) every job terminal: completed, or failed with outcome lost/interrupted only for a job without retry whose
         attempt started in the life of a server that was then killed; retry jobs must complete (2 kills < 3
         attempts); every lost attempt (retry events too) started in the life of a killed server;
     (b) side-effect file: no job without retry ran more than once, no job ran more than max_attempts times, no
         (job, attempt) ran twice, every completed job's final attempt ran to its end, TASKYARD_JOB_ID/ATTEMPT set;
     (c) every SSE follower got each seq exactly once, strictly increasing, and exactly the job's stored event log
         (same seqs, kinds and data) as replayed by a fresh $stream with Last-Event-ID 0; every stored log is
         numbered 1..N without gaps and ends with the job's final record; a completed job's last attempt printed
         exactly its expected lines;
     (d) no process of any job is left: none orphaned by a killed server ~1 s after the restart, none at
         the end (found by FAULT_RUN=/TASKYARD_JOB_ID= in /proc/*/environ or the side-effect path in cmdline).
  6. the storage phase (examples/fault_storage.py; as root, else skipped): a new server on a 40 MiB tmpfs that is
     filled, given 16 MiB while big and small jobs run, and freed; checks (s1)-(s5) listed there.
Prints one summary line per phase, `... -> OK` and exit 0 when all checks pass, else the failures and exit 1.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

from fault_checks import check_followers, check_jobs, check_leftovers, read_side_effects
from faultlib import (T_START, TERMINAL, Api, Follower, Server, ancestors, fetch_log, free_port, job_processes, log,
                      parse_time, proc_info)

N_JOBS = 200
N_TASKS = 20
N_FOLLOWERS = 30
CONCURRENCY = 8
LEASE = 2
RETRY = {"max_attempts": 3, "on": ["lost", "interrupted"], "initial_delay_seconds": 0}
TOTAL_BUDGET = 170.0  # seconds; the whole run must stay under 3 minutes
SCRIPT = (
    'echo start {n}; echo "S $TASKYARD_JOB_ID $TASKYARD_ATTEMPT $$" >> {dir}/ran; sleep {s}; '
    "i=0; while [ $i -lt {k} ]; do echo line $i; i=$((i+1)); done; "
    'echo "E $TASKYARD_JOB_ID $TASKYARD_ATTEMPT $$" >> {dir}/ran'
)


# ---------------------------------------------------------------- server



# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", nargs="?", help="taskyard binary (default: $TASKYARD_BIN, target/release, "
                    "target/debug)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--no-storage", action="store_true", help="skip the storage phase (a tmpfs filled and freed)")
    opts = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = opts.binary or os.environ.get("TASKYARD_BIN")
    if not binary:
        for cand in ("target/release/taskyard", "target/debug/taskyard"):
            if os.path.isfile(os.path.join(repo, cand)):
                binary = os.path.join(repo, cand)
                break
    if not binary or not os.path.isfile(binary):
        print(f"fault: no taskyard binary (tried {binary or 'target/release|debug/taskyard'}); build it first",
              file=sys.stderr)
        return 2
    binary = os.path.abspath(binary)
    seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    log(f"seed {seed}, binary {binary}")

    helptext = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
    if "--lease-seconds" not in helptext:
        print("fault: this taskyard has no --lease-seconds flag (binary too old?)", file=sys.stderr)
        return 2

    workdir = tempfile.mkdtemp(prefix="taskyard-fault-")
    tag = os.path.basename(workdir)
    ran_path = os.path.join(workdir, "ran")
    open(ran_path, "w").close()
    server = Server(binary, workdir, free_port(), CONCURRENCY, LEASE)
    api = Api(server.port)
    failures = []
    followers = []
    ok = False
    try:
        ok = run(opts, rng, seed, server, api, workdir, tag, ran_path, failures, followers)
        if not opts.no_storage:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            from fault_storage import storage_phase
            port = free_port()
            line, bad = storage_phase(binary, workdir, port, Api(port), server.env, log)
            print(f"fault: seed={seed} {line} -> {'OK' if not bad else 'FAIL'}", flush=True)
            for msg in bad[:20]:
                print(f"  - {msg}", flush=True)
            failures += bad
    except Exception as e:  # noqa: BLE001 - report anything as a failure of the run
        import traceback
        traceback.print_exc()
        print(f"fault: seed={seed} run aborted: {e!r} -> FAIL", flush=True)
        for msg in failures:
            print(f"  - {msg}", flush=True)
        failures.append("aborted")
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait()
    if ok and not failures and not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"fault: files kept in {workdir} (server-N.log, ran, taskyard.db)", file=sys.stderr)
    return 0 if ok and not failures else 1


def run(opts, rng, seed, server, api, workdir, tag, ran_path, failures, followers):
    deadline = T_START + TOTAL_BUDGET
    server.start()
    log(f"server 1 pid {server.proc.pid} on port {server.port}")
    jobs, order = submit(api, rng, workdir, tag)
    for jid in rng.sample(order, N_FOLLOWERS):
        f = Follower(server.port, jid, deadline - 15)
        f.start()
        followers.append(f)
    orphans, running_at_kill = kill_twice(rng, server, api, jobs, tag, ran_path)
    final = wait_terminal(api, jobs, deadline, failures)
    for f in followers:
        f.join(max(0.0, deadline - 12 - time.monotonic()))
    logs = stored_logs(server.port, jobs, final, failures)
    runs, ends = read_side_effects(ran_path, jobs, failures)
    # windows in which a job may have been started and then lost: the life of each killed server
    windows = [(i["spawned"] - 1.0, i["killed"] + 1.0) for i in server.instances if i["killed"]]
    counts = check_jobs(jobs, final, logs, runs, ends, windows, len(running_at_kill), failures)
    exact, reconnects, across_retry = check_followers(followers, jobs, final, logs, failures)
    server_pids = {i["pid"] for i in server.instances}
    leftover = check_leftovers(tag, ran_path, jobs, {os.getpid()} | server_pids, orphans, failures)
    exit_code = server.stop()
    if exit_code != 0:
        log(f"note: server exit code {exit_code} after SIGTERM")
    kills = len(running_at_kill)
    completed, failed_lost, retried = counts["completed"], counts["failed_lost"], counts["retried"]
    ran_twice_forbidden, over_attempts = counts["ran_twice_forbidden"], counts["over_attempts"]
    verdict = "OK" if not failures else "FAIL"
    print(f"fault: seed={seed} jobs={len(jobs)} completed={completed} failed_lost={failed_lost} retried={retried} "
          f"kills={kills} running_at_kills={'/'.join(map(str, running_at_kill))} "
          f"ran_twice_forbidden={ran_twice_forbidden} over_max_attempts={over_attempts} "
          f"sse_clients={len(followers)} sse_reconnects={reconnects} sse_across_retry={across_retry} "
          f"sse_exact_once={exact}/{len(followers)} "
          f"leftover_processes={leftover} elapsed={time.monotonic() - T_START:.0f}s -> {verdict}", flush=True)
    if failures:
        print(f"fault: {len(failures)} check(s) failed:", flush=True)
        for cat in ("(a)", "(b)", "(c)", "(d)", ""):
            mine = [m for m in failures if m.startswith(cat) and (cat or m[:3] not in ("(a)", "(b)", "(c)", "(d)"))]
            for msg in mine[:12]:
                print(f"  - {msg}", flush=True)
            if len(mine) > 12:
                print(f"  ... and {len(mine) - 12} more {cat} failures", flush=True)
    return not failures


def submit(api, rng, workdir, tag):
    """Creates the tasks, half with the retry policy, and executes the jobs: (job id -> what it runs, the ids in
    order)."""
    tasks = []
    for i in range(N_TASKS):
        with_retry = i % 2 == 0
        body = {"name": f"fault-{i}", "command": f"sh -c '{SCRIPT}'", "params": {"dir": workdir},
                "env": {"FAULT_RUN": tag}}
        if with_retry:
            body["retry"] = RETRY
        status, doc = api.call("POST", "/api/v1/tasks", body=body)
        if status != 201:
            raise RuntimeError(f"creating a task failed: {status} {doc}")
        if with_retry and doc.get("retry") is None:
            raise RuntimeError(f"task created without its retry policy (feature missing?): {doc}")
        tasks.append((doc["id"], with_retry))

    jobs = {}  # job id -> dict(n, s, k, retry, max_attempts)
    order = []
    for n in range(N_JOBS):
        task_id, with_retry = tasks[rng.randrange(N_TASKS)]
        s = 0 if rng.random() < 0.15 else round(rng.uniform(0, 3), 1)
        k = 0 if rng.random() < 0.1 else rng.randint(0, 200)
        doc = api.expect(202, "POST", f"/api/v1/tasks/{task_id}/$execute",
                         body={"params": {"n": n, "s": s, "k": k}},
                         headers={"Idempotency-Key": f"{tag}-{n}"})
        jid = doc["job_id"]
        jobs[jid] = {"n": n, "s": s, "k": k, "retry": with_retry, "max_attempts": 3 if with_retry else 1,
                     "task_id": task_id}
        order.append(jid)
    log(f"submitted {len(jobs)} jobs ({sum(j['retry'] for j in jobs.values())} with retry)")
    return jobs, order


def kill_twice(rng, server, api, jobs, tag, ran_path):
    """kill -9s the server twice at random moments while jobs run, restarting it each time: (pid -> description of
    a job process the killed server left, the number of jobs running at each kill)."""
    orphans = {}  # pid -> description
    running_at_kill = []
    for round_no in range(2):
        time.sleep(rng.uniform(2.0, 10.0) if round_no == 0 else rng.uniform(3.0, 10.0))
        try:
            _, doc = api.call("GET", "/api/v1/jobs?status=running&page=1&size=1000", wait=2)
            running = [j["id"] for j in doc["items"] if j["id"] in jobs]
        except Exception:  # noqa: BLE001 - only informational
            running = []
        old_pid = server.proc.pid
        server.kill9()
        kills = round_no + 1
        running_at_kill.append(len(running))
        log(f"kill -9 #{kills} of server pid {old_pid} ({len(running)} jobs running)")
        server.start()
        log(f"server {len(server.instances)} pid {server.proc.pid} listening")
        time.sleep(1.0)
        orphans.update(orphans_after_restart(server.proc.pid, tag, ran_path, jobs, kills))
    return orphans, running_at_kill


def orphans_after_restart(new_pid, tag, ran_path, jobs, kills):
    """A job process whose ancestry does not include the new server was left behind by the killed one. The scan
    races with processes that exit meanwhile, so a candidate counts only if it is still there (same start time, not a
    zombie) and still outside the new server's tree a moment later."""
    orphans = {}
    candidates = [p for p in job_processes(tag, ran_path, set(jobs), {os.getpid(), new_pid})
                  if new_pid not in [p["ppid"]] + ancestors(p["ppid"])]
    time.sleep(0.3)
    for p in candidates:
        now = proc_info(p["pid"])
        if now is None or now["start"] != p["start"] or now["state"] == "Z":
            continue
        if new_pid not in [now["ppid"]] + ancestors(now["ppid"]):
            orphans[p["pid"]] = (f"pid {p['pid']} (ppid {now['ppid']}) `{p['cmd'][:80]}` "
                                 f"TASKYARD_JOB_ID={p['env'].get('TASKYARD_JOB_ID')} "
                                 f"TASKYARD_ATTEMPT={p['env'].get('TASKYARD_ATTEMPT')} "
                                 f"still alive 1.3 s after restart #{kills}, not a child of the new server")
    return orphans


def wait_terminal(api, jobs, deadline, failures):
    """Waits (bounded) until every job is terminal: job id -> its record."""
    final = {}
    while True:
        _, doc = api.call("GET", "/api/v1/jobs?page=1&size=1000", wait=10)
        final = {j["id"]: j for j in doc["items"] if j["id"] in jobs}
        busy = [j for j in jobs if final.get(j, {}).get("status") not in TERMINAL]
        if not busy or time.monotonic() > deadline - 25:
            break
        time.sleep(0.5)
    log(f"{len(jobs) - len(busy)}/{len(jobs)} jobs terminal")
    for jid in busy:
        j = final.get(jid)
        if j is None:
            failures.append(f"(a) job {jid} missing from GET /api/v1/jobs")
        else:
            note = ""
            if j["status"] == "pending" and j.get("run_at") and parse_time(j["run_at"]) > time.time():
                note = " (pending with a future run_at)"
            failures.append(f"(a) job {jid} not terminal at the deadline: status {j['status']} attempt "
                            f"{j.get('attempt')}{note}")
    return final


def stored_logs(port, jobs, final, failures):
    """The stored event log of every terminal job, replayed by a fresh $stream: job id -> (events, ended)."""
    logs = {}
    for jid in jobs:
        if final.get(jid, {}).get("status") in TERMINAL:
            try:
                logs[jid] = fetch_log(port, jid)
            except Exception as e:  # noqa: BLE001
                failures.append(f"(c) could not replay the event log of {jid}: {e!r}")
    return logs


if __name__ == "__main__":
    sys.exit(main())
