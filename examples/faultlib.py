"""What examples/fault.py and its storage phase (examples/fault_storage.py) share: the server process and its
stderr, the HTTP API, SSE, the event log, the job processes found in /proc, and the SSE followers' checks."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime

TERMINAL = {"completed", "failed", "canceled"}
T_START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() if s else None


# ---------------------------------------------------------------- server


def spawn_server(args, logpath, env, cwd=None):
    """Starts `args` with its stderr copied line by line to `logpath` by a thread, so that the server never blocks
    on a full pipe; returns the process and an event set once it logs `listening on http://`."""
    logf = open(logpath, "w", buffering=1)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.PIPE, env=env, cwd=cwd)
    listening = threading.Event()

    def pump():
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace")
            logf.write(line)
            if "listening on http://" in line:
                listening.set()
        logf.close()

    threading.Thread(target=pump, daemon=True).start()
    return proc, listening


class Server:
    """One `taskyard serve` at a time on the same port and database; each start is a new instance."""

    def __init__(self, binary, workdir, port, concurrency, lease):
        self.binary = binary
        self.concurrency = concurrency
        self.lease = lease
        self.workdir = workdir
        self.port = port
        self.proc = None
        self.instances = []  # dicts: pid, log, spawned (wall), listening (wall), killed (wall or None)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TASKYARD_")}
        self.env.setdefault("RUST_LOG", "info")

    def args(self):
        args = [self.binary, "serve", "--bind", f"127.0.0.1:{self.port}",
                "--database-url", f"sqlite://{self.workdir}/taskyard.db?mode=rwc",
                "--allow", "sh", "--allow", "sleep", "--allow", "echo",
                "--max-concurrency", str(self.concurrency), "--lease-seconds", str(self.lease)]
        return args

    def start(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            n = len(self.instances) + 1
            path = os.path.join(self.workdir, f"server-{n}.log")
            spawned = time.time()
            proc, listening = spawn_server(self.args(), path, self.env, cwd=self.workdir)
            while not listening.wait(0.05):
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
            inst = {"pid": proc.pid, "log": path, "spawned": spawned, "listening": time.time() if listening.is_set()
                    else None, "killed": None, "exit": None}
            self.instances.append(inst)
            if listening.is_set():
                self.proc = proc
                return inst
            if proc.poll() is None:
                proc.kill()
            inst["exit"] = proc.wait()
            if time.monotonic() > deadline or attempt >= 5:
                raise RuntimeError(f"server did not start (exit {inst['exit']}); see {path}:\n" + tail(path))
            log(f"server start {n} failed (exit {inst['exit']}), retrying")
            time.sleep(0.5)

    def kill9(self):
        inst = self.instances[-1]
        inst["killed"] = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        inst["exit"] = self.proc.wait()
        self.proc = None

    def stop(self, timeout=40.0):
        if self.proc is None:
            return None
        inst = self.instances[-1]
        self.proc.send_signal(signal.SIGTERM)
        try:
            inst["exit"] = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            inst["exit"] = self.proc.wait()
            inst["exit_note"] = "did not stop within 40 s of SIGTERM; killed"
        self.proc = None
        return inst["exit"]


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- HTTP


class Api:
    def __init__(self, port):
        self.port = port

    def call(self, method, path, body=None, headers=None, timeout=10.0, wait=30.0):
        """One request; connection errors are retried for `wait` seconds (the server may be restarting)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                h = dict(headers or {})
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    h["Content-Type"] = "application/json"
                conn.request(method, path, body=data, headers=h)
                resp = conn.getresponse()
                raw = resp.read()
                conn.close()
                if resp.status == 503 and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = raw.decode("utf-8", "replace")
                return resp.status, doc
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def call_raw(self, method, path, body=None, timeout=10.0):
        """One request answered as it is (no retry on 503): (status, JSON or text, headers in lower case)."""
        for attempt in range(50):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                data = json.dumps(body).encode() if body is not None else None
                h = {"Content-Type": "application/json"} if body is not None else {}
                conn.request(method, path, body=data, headers=h)
                resp = conn.getresponse()
                raw = resp.read()
                headers = {k.lower(): v for k, v in resp.getheaders()}
                conn.close()
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = raw.decode("utf-8", "replace")
                return resp.status, doc, headers
            except (OSError, http.client.HTTPException):
                if attempt == 49:
                    raise
                time.sleep(0.2)

    def expect(self, status, method, path, **kw):
        got, doc = self.call(method, path, **kw)
        if got != status:
            raise RuntimeError(f"{method} {path}: expected {status}, got {got}: {doc}")
        return doc


def read_sse(resp, on_event):
    """Parses an SSE body; calls on_event(seq, kind, data) per dispatched event; returns when on_event returns
    True (final record) or at EOF. Raises on a broken connection."""
    seq, kind, data = None, None, []
    while True:
        raw = resp.readline()
        if not raw:
            return False
        line = raw.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        if line == "":
            if data:
                done = on_event(seq, kind or "state", "\n".join(data))
                if done:
                    return True
            seq, kind, data = None, None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "id":
            seq = int(value) if value.isdigit() else value
        elif field == "event":
            kind = value
        elif field == "data":
            data.append(value)


def is_final(kind, data):
    if kind not in ("state", "message"):
        return False
    try:
        return json.loads(data).get("status") in TERMINAL
    except (ValueError, AttributeError):
        return False


def fetch_log(port, job_id, timeout=30.0):
    """The job's whole stored event log: a fresh $stream with Last-Event-ID 0 (the job is finished)."""
    events = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", f"/api/v1/jobs/{job_id}/$stream",
                 headers={"Accept": "text/event-stream", "Last-Event-ID": "0"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"$stream of {job_id}: status {resp.status}: {resp.read()[:300]!r}")

    def on_event(seq, kind, data):
        events.append((seq, kind, data))
        return is_final(kind, data)

    ended = read_sse(resp, on_event)
    conn.close()
    return events, ended


class Follower(threading.Thread):
    """Follows one job's $stream; on a broken connection reconnects with Last-Event-ID until the final record."""

    def __init__(self, port, job_id, deadline):
        super().__init__(daemon=True)
        self.port, self.job_id, self.deadline = port, job_id, deadline
        self.events = []  # (seq, kind, data) in arrival order
        self.connections = 0
        self.breaks = 0
        self.problems = []
        self.finished = False

    def run(self):
        last = None
        while time.monotonic() < self.deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
                headers = {"Accept": "text/event-stream"}
                if last is not None:
                    headers["Last-Event-ID"] = str(last)
                conn.request("GET", f"/api/v1/jobs/{self.job_id}/$stream", headers=headers)
                resp = conn.getresponse()
                if resp.status != 200:
                    body = resp.read()[:300]
                    conn.close()
                    if resp.status != 503:
                        self.problems.append(f"$stream answered {resp.status}: {body!r}")
                    time.sleep(0.2)
                    continue
                self.connections += 1

                def on_event(seq, kind, data):
                    nonlocal last
                    self.events.append((seq, kind, data))
                    if isinstance(seq, int):
                        last = seq
                    else:
                        self.problems.append(f"event without a numeric id: {seq!r} {kind}")
                    return is_final(kind, data)

                if read_sse(resp, on_event):
                    self.finished = True
                    conn.close()
                    return
                conn.close()
            except (OSError, http.client.HTTPException):
                pass
            self.breaks += 1
            time.sleep(0.1)
        self.problems.append("did not see the final record before the deadline")


# ---------------------------------------------------------------- /proc


def proc_info(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2:].split()
    state, ppid, start = rest[0], int(rest[1]), rest[19]
    envd = {}
    for item in env:
        k, sep, v = item.partition(b"=")
        if sep:
            envd[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return {"pid": pid, "ppid": ppid, "state": state, "start": start, "env": envd, "cmd": cmd}


def ancestors(pid):
    out = []
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            break
        pid = int(stat[stat.rfind(")") + 2:].split()[1])
        out.append(pid)
    return out


def job_processes(tag, ran_path, job_ids, exclude):
    """Processes of this run's jobs: FAULT_RUN=<tag> or TASKYARD_JOB_ID=<one of ours> in the environment, or the
    side-effect path in the command line. Zombies are skipped (they are dead; their parent has not reaped them)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in exclude:
            continue
        info = proc_info(pid)
        if info is None or info["state"] == "Z":
            continue
        env = info["env"]
        if env.get("FAULT_RUN") == tag or env.get("TASKYARD_JOB_ID") in job_ids or ran_path in info["cmd"]:
            found.append(info)
    return found


