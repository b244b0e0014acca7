"""The checks of examples/fault.py: what a run left (the side-effect file, the jobs' records and stored event logs,
what the SSE followers received, the job processes still alive) against what it did."""
import json
import time

from faultlib import TERMINAL, is_final, job_processes, parse_time, proc_info


def read_side_effects(ran_path, jobs, failures):
    """(b) The side-effect file: `S|E <TASKYARD_JOB_ID> <TASKYARD_ATTEMPT> <pid>` per run start and end. Appends to
    `failures` its malformed lines and runs of unknown jobs; returns (job id -> attempts started, -> attempts ended)
    in file order."""
    runs = {}  # job id -> list of attempts started (in file order)
    ends = {}
    bad_lines = []
    with open(ran_path) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) != 4 or parts[0] not in "SE" or not parts[2].isdigit():
                bad_lines.append(line.rstrip())
                continue
            (runs if parts[0] == "S" else ends).setdefault(parts[1], []).append(int(parts[2]))
    if bad_lines:
        failures.append(f"(b) {len(bad_lines)} side-effect lines without TASKYARD_JOB_ID/TASKYARD_ATTEMPT, e.g. "
                        f"{bad_lines[:3]}")
    strangers = set(runs) - set(jobs)
    if strangers:
        failures.append(f"(b) runs recorded with unknown TASKYARD_JOB_ID: {sorted(strangers)[:5]}")
    return runs, ends


def check_followers(followers, jobs, final, logs, failures):
    """(c) Every follower got each seq once, strictly increasing, and exactly the job's stored log (`logs`: job id ->
    (events, ended)). Appends to `failures`; returns (followers exact, reconnects, followers across a retry)."""
    exact = 0
    reconnects = 0
    across_retry = 0
    for f in followers:
        reconnects += max(0, f.connections - 1)
        across_retry += final.get(f.job_id, {}).get("attempt", 1) > 1
        label = f"follower of job {f.job_id} (n={jobs[f.job_id]['n']})"
        bad = list(f.problems)
        got = [e[0] for e in f.events]
        if not f.finished:
            bad.append("stream never reached the final record")
        if any(not isinstance(s, int) for s in got):
            bad.append("non-numeric ids")
        else:
            dup = sorted({s for s in got if got.count(s) > 1})
            if dup:
                bad.append(f"seqs received more than once: {dup[:10]}")
            nonmono = [(a, b) for a, b in zip(got, got[1:]) if b <= a]
            if nonmono:
                bad.append(f"seqs not strictly increasing: {nonmono[:5]}")
        if f.job_id in logs:
            ref = {e[0]: e for e in logs[f.job_id][0]}
            mine = {e[0]: e for e in f.events}
            missing = sorted(set(ref) - set(mine), key=str)
            extra = sorted(set(mine) - set(ref), key=str)
            if missing:
                bad.append(f"missed seqs {missing[:10]} of {len(ref)} (connections {f.connections})")
            if extra:
                bad.append(f"got seqs not in the stored log: {extra[:10]}")
            differ = [s for s in set(ref) & set(mine) if ref[s] != mine[s]]
            if differ:
                s = min(differ)
                bad.append(f"{len(differ)} events differ from the stored log, e.g. seq {s}: live {mine[s][1:]} "
                           f"vs stored {ref[s][1:]}")
        else:
            bad.append("no stored log to compare with")
        if bad:
            failures.append(f"(c) {label}: " + "; ".join(bad))
        else:
            exact += 1
    return exact, reconnects, across_retry

def check_jobs(jobs, final, logs, runs, ends, windows, kills, failures):
    """(a), (b) and (c) for every terminal job: its record against what it ran (`runs`, `ends`: job id -> attempts
    started, ended) and how often the server was killed, and its stored log (`logs`). An attempt may have been lost
    only if it started within one of `windows`, the lives of the killed servers. Appends to `failures`; returns the
    counts of the summary line."""
    counts = dict.fromkeys(("completed", "failed_lost", "retried", "ran_twice_forbidden", "over_attempts"), 0)

    def in_kill_window(t):
        return t is not None and any(a <= t <= b for a, b in windows)

    for jid, meta in jobs.items():
        j = final.get(jid)
        if j is None or j["status"] not in TERMINAL:
            continue
        label = check_job(jid, meta, j, runs, ends, kills, in_kill_window, counts, failures)
        if jid in logs:
            events, ended = logs[jid]
            check_job_log(label, meta, j, events, ended, in_kill_window, failures)
    return counts


def check_job(jid, meta, j, runs, ends, kills, in_kill_window, counts, failures):
    """(a) how the job ended and (b) what of it ran, from its final record `j` and the side-effect file."""
    n = meta["n"]
    label = f"job {jid} (n={n}, {'retry' if meta['retry'] else 'no retry'})"
    if j.get("max_attempts") != meta["max_attempts"]:
        failures.append(f"(b) {label}: max_attempts {j.get('max_attempts')}, expected {meta['max_attempts']}")
    if j["attempt"] > 1:
        counts["retried"] += 1
    # (a)
    if j["status"] == "completed":
        counts["completed"] += 1
    elif j["status"] == "failed" and j["outcome"] in ("lost", "interrupted"):
        counts["failed_lost"] += 1
        if meta["retry"] and meta["max_attempts"] > kills:
            failures.append(f"(a) {label} failed with outcome {j['outcome']} at attempt {j['attempt']} "
                            f"although only {kills} kills happened: {j.get('error')}")
        if not in_kill_window(parse_time(j.get("started_at"))):
            failures.append(f"(a) {label} failed with outcome {j['outcome']} but its attempt started at "
                            f"{j.get('started_at')}, not in the life of a killed server")
    else:
        failures.append(f"(a) {label} ended {j['status']}/{j['outcome']}: {j.get('error')}")
    # (b)
    r = runs.get(jid, [])
    if not meta["retry"] and len(r) > 1:
        counts["ran_twice_forbidden"] += 1
        failures.append(f"(b) {label} ran {len(r)} times (attempts {r}) without a retry policy")
    if len(r) > meta["max_attempts"]:
        counts["over_attempts"] += 1
        failures.append(f"(b) {label} ran {len(r)} times (attempts {r}), max_attempts {meta['max_attempts']}")
    dups = sorted({a for a in r if r.count(a) > 1})
    if dups:
        failures.append(f"(b) {label}: attempt(s) {dups} ran more than once (attempts started: {r})")
    if j["status"] == "completed" and j["attempt"] not in ends.get(jid, []):
        failures.append(f"(b) {label} completed at attempt {j['attempt']} but no run of that attempt reached "
                        f"its end (runs started {r}, ended {ends.get(jid, [])})")
    if j["attempt"] > meta["max_attempts"]:
        failures.append(f"(b) {label}: attempt {j['attempt']} > max_attempts {meta['max_attempts']}")
    return label


def check_job_log(label, meta, j, events, ended, in_kill_window, failures):
    """(c) the job's stored event log: numbered 1..N, ending with the job's final record, every lost attempt started
    in the life of a killed server, and a completed job's last attempt printed exactly its expected lines."""
    n = meta["n"]
    seqs = [e[0] for e in events]
    if not ended:
        failures.append(f"(c) {label}: replayed log does not end with a final record (last {events[-1:]})")
    if seqs != list(range(1, len(seqs) + 1)):
        failures.append(f"(c) {label}: stored event log is not numbered 1..N: {seqs[:10]}...{seqs[-5:]}")
    if events:
        last = json.loads(events[-1][2]) if is_final(events[-1][1], events[-1][2]) else {}
        if (last.get("status"), last.get("outcome"), last.get("attempt")) != \
                (j["status"], j["outcome"], j["attempt"]):
            failures.append(f"(c) {label}: last logged record {last.get('status')}/{last.get('outcome')} "
                            f"attempt {last.get('attempt')} differs from the job {j['status']}/"
                            f"{j['outcome']} attempt {j['attempt']}")
    started = {}
    last_running = None
    for idx, (seq, kind, data) in enumerate(events):
        if kind in ("state", "message"):
            rec = json.loads(data)
            if rec.get("status") == "running":
                started[rec.get("attempt")] = parse_time(rec.get("started_at"))
                last_running = idx
        elif kind == "retry":
            rec = json.loads(data)
            if rec.get("outcome") in ("lost", "interrupted"):
                t = started.get(rec.get("attempt"))
                if not in_kill_window(t):
                    failures.append(f"(a) {label}: attempt {rec.get('attempt')} was {rec.get('outcome')} "
                                    f"(retry event seq {seq}) but started at {t}, not in the life of a "
                                    f"killed server")
            elif rec.get("outcome") is not None:
                failures.append(f"(a) {label}: unexpected retry event {data}")
    if j["status"] == "completed" and last_running is not None:
        out = [(k, d) for (_, k, d) in events[last_running + 1:] if k in ("stdout", "stderr")]
        want = [("stdout", f"start {n}")] + [("stdout", f"line {i}") for i in range(meta["k"])]
        if out != want:
            diff = next((i for i, (a, b) in enumerate(zip(out, want)) if a != b), min(len(out), len(want)))
            failures.append(f"(c) {label}: last attempt printed {len(out)} lines, expected {len(want)}; first "
                            f"difference at line {diff}: {out[diff:diff + 2]} vs {want[diff:diff + 2]}")


def check_leftovers(tag, ran_path, jobs, exclude, orphans, failures):
    """(d) no process of any job is left: none of `orphans` (left by a killed server), none once all jobs ended.
    Appends to `failures`; returns how many there were."""
    first = job_processes(tag, ran_path, set(jobs), exclude)
    time.sleep(0.3 if first else 0)
    left = []
    for p in first:  # confirm: still there (same start time, not a zombie) a moment later
        now = proc_info(p["pid"])
        if now is not None and now["start"] == p["start"] and now["state"] != "Z":
            left.append(now)
    for pid, desc in sorted(orphans.items()):
        failures.append(f"(d) {desc}")
    for p in left:
        failures.append(f"(d) pid {p['pid']} (ppid {p['ppid']}) `{p['cmd'][:80]}` TASKYARD_JOB_ID="
                        f"{p['env'].get('TASKYARD_JOB_ID')} still alive after all jobs ended")
    return len(set(orphans) | {p["pid"] for p in left})
