"""The storage phase of examples/fault.py: the database's volume filled and freed while jobs run.

A 40 MiB tmpfs (root only; skipped otherwise) holds a fresh SQLite database. A server on it (output bound 2 MiB,
min_free_bytes off, so that the disk really fills) gets a task printing 40 MB and a small task that touches a
marker file named by its job id. The volume is filled completely; tasks and jobs are sent while it is full; it is
then given 16 MiB while big and small jobs are executed, which fills it again; then it is freed. Checks:
  (s1) every write was answered 2xx, or 507 storage_full / 503 storage_unavailable with Retry-After; never 500;
  (s2) every task answered 201 exists, every job answered 202 exists and ends by itself once there is room;
  (s3) every marker file names a stored job: no job process ran without its row;
  (s4) /health said degraded (storage_full) while the volume was full, and ok at the end;
  (s5) afterwards a task created is found by the $execute sent right after it, and its job completes.
"""
import os
import shutil
import subprocess
import time

from faultlib import TERMINAL, spawn_server

BIG = "sh -c 'yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop | head -c 40000000'"
SMALL = "sh -c 'echo small; touch \"$0/$TASKYARD_JOB_ID\"' {dir}"


def free_bytes(path):
    s = os.statvfs(path)
    return s.f_bavail * s.f_frsize


def fill(path, leave):
    """Writes a filler file until at most `leave` bytes are free."""
    name = os.path.join(path, "filler")
    chunk = b"\x5a" * 65536
    with open(name, "ab") as f:
        while True:
            free = free_bytes(path)
            if free <= leave:
                break
            try:
                f.write(chunk[: min(len(chunk), free - leave)])
                f.flush()
            except OSError:
                break
    return name


def start_server(binary, db_dir, port, env, logpath):
    args = [binary, "serve", "--bind", f"127.0.0.1:{port}", "--database-url",
            f"sqlite://{db_dir}/taskyard.db?mode=rwc", "--allow", "sh", "--max-concurrency", "4",
            "--lease-seconds", "2", "--output-max-bytes", str(2 << 20)]
    if "--min-free-bytes" in subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout:
        args += ["--min-free-bytes", "0"]  # the volume must really fill
    proc, listening = spawn_server(args, logpath, env)
    if not listening.wait(30):
        proc.kill()
        raise RuntimeError(f"storage phase: the server did not start; see {logpath}")
    return proc


class Ledger:
    def __init__(self):
        self.tasks, self.jobs, self.refused, self.bad = [], [], {}, []

    def note(self, what, status, doc, headers):
        if 200 <= status < 300:
            (self.jobs if "job_id" in (doc or {}) else self.tasks).append(doc.get("job_id") or doc["id"])
            return
        code = (doc or {}).get("code") if isinstance(doc, dict) else None
        if (status, code) not in ((507, "storage_full"), (503, "storage_unavailable")):
            self.bad.append(f"(s1) {what}: {status} {doc}")
        elif not str(headers.get("retry-after", "")).isdigit():
            self.bad.append(f"(s1) {what}: {status} without Retry-After")
        self.refused[status] = self.refused.get(status, 0) + 1


def storage_phase(binary, workdir, port, api, env, log):
    """Runs the phase; returns (summary line, failures). `api` is fault.py's Api on `port`."""
    if os.geteuid() != 0:
        return "storage: skipped (needs root to mount a tmpfs)", []
    vol = os.path.join(workdir, "storage-volume")
    marks = os.path.join(workdir, "storage-markers")
    os.makedirs(vol)
    os.makedirs(marks)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", vol], check=True)
    failures = []
    proc = None
    try:
        proc = start_server(binary, vol, port, env, os.path.join(workdir, "server-storage.log"))
        ledger = Ledger()
        degraded_seen = []
        fill_and_free(api, vol, marks, ledger, degraded_seen, log)
        missing, unfinished = check_acknowledged(api, ledger, failures)
        markers = os.listdir(marks)
        no_row = [m for m in markers if api.call_raw("GET", f"/api/v1/jobs/{m}")[0] != 200]
        failures += [f"(s3) job {m} ran (marker) but has no row" for m in no_row]
        if "storage_full" not in degraded_seen:
            failures.append(f"(s4) /health never said degraded/storage_full while full (saw {degraded_seen})")
        health_end = None
        for _ in range(100):
            _, doc, _ = api.call_raw("GET", "/health")
            health_end = doc.get("status") if isinstance(doc, dict) else doc
            if health_end == "ok":
                break
            time.sleep(0.1)
        if health_end != "ok":
            failures.append(f"(s4) /health says {health_end} after the volume was freed")
        task = api.expect(201, "POST", "/api/v1/tasks", body={"command": "sh -c 'echo resumed'"})["id"]
        status, doc, _ = api.call_raw("POST", f"/api/v1/tasks/{task}/$execute")
        if status != 202:
            failures.append(f"(s5) a task created is not executable right after: {status} {doc}")
        failures += ledger.bad
        line = (f"storage: acknowledged_tasks={len(ledger.tasks)} acknowledged_jobs={len(ledger.jobs)} "
                f"refused_507={ledger.refused.get(507, 0)} refused_503={ledger.refused.get(503, 0)} "
                f"other_answers={len(ledger.bad)} missing={missing} unfinished={unfinished} "
                f"markers={len(markers)} markers_without_row={len(no_row)} "
                f"health_degraded_seen={','.join(sorted(set(r for r in degraded_seen if r))) or 'no'} "
                f"health_end={health_end}")
        return line, failures
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["umount", "-l", vol])
        shutil.rmtree(vol, ignore_errors=True)


def fill_and_free(api, vol, marks, ledger, degraded_seen, log):
    """Sends big and small jobs and new tasks while the volume is full, then while the jobs fill it again, then
    frees it. Every answer goes to `ledger`; every degraded /health reason seen, to `degraded_seen`."""
    big = api.expect(201, "POST", "/api/v1/tasks", body={"command": BIG})["id"]
    small = api.expect(201, "POST", "/api/v1/tasks", body={"command": SMALL, "params": {"dir": marks}})["id"]

    def send(what, method, path, body=None):
        status, doc, headers = api.call_raw(method, path, body=body)
        ledger.note(what, status, doc, headers)

    def watch_health():
        status, doc, _ = api.call_raw("GET", "/health")
        if isinstance(doc, dict) and doc.get("status") == "degraded":
            degraded_seen.append(doc.get("reason"))

    def six_rounds(state, command, pause):
        """Six rounds of: execute big, execute small, create a task with `command(i)`, ask /health, wait `pause` s."""
        for i in range(6):
            send(f"execute big ({state})", "POST", f"/api/v1/tasks/{big}/$execute")
            send(f"execute small ({state})", "POST", f"/api/v1/tasks/{small}/$execute")
            send(f"create task ({state})", "POST", "/api/v1/tasks", {"command": command(i)})
            watch_health()
            if pause:
                time.sleep(pause)

    # Full: everything sent meanwhile is refused or stored.
    pad = "x" * 2000
    filler = fill(vol, 0)
    log(f"storage: volume full ({free_bytes(vol)} bytes free)")
    six_rounds("full", lambda i: f"sh -c 'echo full {i} {pad}'", 0)
    # 16 MiB of room, filled again by the jobs sent now.
    os.remove(filler)
    filler = fill(vol, 16 << 20)
    log(f"storage: {free_bytes(vol)} bytes free; executing big and small jobs")
    six_rounds("filling", lambda i: f"sh -c 'echo filling {i}'", 0.3)
    for _ in range(20):
        watch_health()
        time.sleep(0.1)
    # Room again.
    os.remove(filler)
    log(f"storage: volume freed ({free_bytes(vol)} bytes free); waiting for every acknowledged job")


def check_acknowledged(api, ledger, failures):
    """(s2) every task answered 201 exists, every job answered 202 exists and ends within 90 s: (missing,
    unfinished)."""
    missing = unfinished = 0
    for task in ledger.tasks:
        status, _, _ = api.call_raw("GET", f"/api/v1/tasks/{task}")
        if status != 200:
            missing += 1
            failures.append(f"(s2) task {task} was answered 201 but GET answers {status}")
    deadline = time.monotonic() + 90
    for job in ledger.jobs:
        while True:
            status, doc, _ = api.call_raw("GET", f"/api/v1/jobs/{job}")
            if status != 200:
                missing += 1
                failures.append(f"(s2) job {job} was answered 202 but GET answers {status}")
                break
            if doc["status"] in TERMINAL:
                break
            if time.monotonic() > deadline:
                unfinished += 1
                failures.append(f"(s2) job {job} still {doc['status']} 90 s after the volume was freed")
                break
            time.sleep(0.1)
    return missing, unfinished
