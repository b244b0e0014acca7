"""The checks of examples/fault.py that read what a run left: the side-effect file and the SSE followers."""


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
