# Measures, against a running server with 100,000 jobs: the jobs page's API calls (p50/p99 over N sequential
# requests) and, in headless Chromium over WebDriver, the jobs page's first contentful paint and the time until
# its table shows rows (ms from navigation start).
import json, sys, time, urllib.request, subprocess, socket, statistics, tempfile
base = sys.argv[1]
def timed(path, n=200):
    xs = []
    for _ in range(n):
        t = time.perf_counter(); urllib.request.urlopen(base + path).read(); xs.append((time.perf_counter() - t) * 1000)
    xs.sort()
    return f"{path}: p50 {xs[len(xs)//2]:.1f} ms, p99 {xs[int(len(xs)*0.99)-1]:.1f} ms, max {xs[-1]:.1f} ms (n={n})"
first = json.load(urllib.request.urlopen(base + "/api/v1/jobs?size=50"))["items"]
print(timed("/api/v1/jobs?size=50"))
print(timed(f"/api/v1/jobs?size=50&after={first[-1]['id']}"))
print(timed("/api/v1/jobs?size=50&status=failed"))
print(timed("/api/v1/stats/finished?minutes=60"))
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
drv = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
while "started successfully" not in drv.stdout.readline(): pass
wd = f"http://127.0.0.1:{port}"
def call(method, path, body=None):
    req = urllib.request.Request(wd + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))["value"]
prof = tempfile.mkdtemp()
sess = call("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={prof}"]}}}})["sessionId"]
paint, rows = [], []
try:
    for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 20):
        call("POST", f"/session/{sess}/url", {"url": "about:blank"})
        call("POST", f"/session/{sess}/url", {"url": base + "/dashboard/#/jobs"})
        v = call("POST", f"/session/{sess}/execute/async", {"script": """
          const done = arguments[0];
          const check = () => { if (document.querySelector('#jobs tbody tr')) {
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            done({ rows: performance.now(), fcp: fcp ? fcp.startTime : null }); } else requestAnimationFrame(check); };
          check();""", "args": []})
        paint.append(v["fcp"]); rows.append(v["rows"])
finally:
    call("DELETE", f"/session/{sess}"); drv.kill()
for name, xs in (("first contentful paint", paint), ("table rows shown", rows)):
    xs = sorted(x for x in xs if x is not None)
    print(f"jobs page {name}: median {statistics.median(xs):.0f} ms, max {xs[-1]:.0f} ms (n={len(xs)}, cold cache each: about:blank between)")
