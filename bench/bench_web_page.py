"""The availability page under a surge: our app vs nginx serving the same published file.

    python bench/bench_web_page.py                      # 10 s per server, 64 connections
    python bench/bench_web_page.py --duration 20 --connections 128 --path /api/v1/locations
    python bench/bench_web_page.py --quick --json       # 2 s per server; the suite's lines

What runs, in this one process, as ``notifier run`` does: the provider simulator replaying the
8 a.m. release, the real pipeline polling it every second (PrepMod pages and the SMART feed),
the publisher re-rendering the public folder after every poll, and the web app (uvicorn) on
an ephemeral loopback port. nginx (``/usr/sbin/nginx``, not daemonised, temporary prefix and
config, one worker) serves the same folder on another ephemeral port. ``wrk`` (one thread, so
a core is left for the server) loads each in turn; the figures are its requests/s and latency
percentiles. Goal (issue 8): our app at least a quarter of nginx's requests/s, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from notifier.bench._scripts import add_suite_options, print_json_lines
from notifier.bench.registry import Result
from notifier.config import (
    AlertPolicy,
    Config,
    DatabaseConfig,
    HttpSettings,
    OperatorConfig,
    ProviderConfig,
    WebConfig,
)
from notifier.pipeline.poll import PollSummary, Runtime, poll_provider
from notifier.pipeline.service import Service
from notifier.testing.simulator import ProviderSimulator
from notifier.web.app import create_app
from notifier.web.public.routes import start_publisher
from notifier.web.serve import start_web

NAME = "web"
QUICK_DURATION = 2.0
WRK = shutil.which("wrk") or "/usr/bin/wrk"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{
        text/html html;
        application/json json;
        application/fhir+ndjson ndjson;
        application/atom+xml xml;
        text/css css;
    }}
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            try_files $uri $uri.json $uri/index.html =404;
            add_header Cache-Control "public, max-age=10, stale-while-revalidate=30";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_wrk(output: str) -> dict[str, float]:
    def latency_ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    figures: dict[str, float] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    figures["requests_per_s"] = float(rps.group(1)) if rps else 0.0
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.MULTILINE)
        if match:
            figures[f"p{pct}_ms"] = latency_ms(match.group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", output)
    figures["socket_errors"] = 1.0 if socket_errors else 0.0
    return figures


async def run_wrk(url: str, duration: float, connections: int) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        WRK,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        url,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return parse_wrk(output.decode())


async def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def config_for(sim: ProviderSimulator, workdir: Path, port: int) -> Config:
    return Config(
        operator=OperatorConfig(name="Bench", contact="mailto:bench@example.org"),
        database=DatabaseConfig(url=f"sqlite:///{workdir / 'subscribers.db'}"),
        http=HttpSettings(contact="mailto:bench@example.org", timeout_seconds=5, max_retries=1),
        alerts=AlertPolicy(min_increase=50, cooldown_minutes=0.25, ttl_minutes=10),
        providers=[
            ProviderConfig(id="ma-prepmod", scraper="prepmod", settings={"base_url": sim.base_url}),
            ProviderConfig(
                id="ma-smart",
                scraper="smart-scheduling-links",
                settings={"manifest_url": sim.smart_manifest_url},
            ),
        ],
        web=WebConfig(
            port=port, public_url=f"http://127.0.0.1:{port}", public_dir=workdir / "public"
        ),
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # nginx's worker may run as another user
        app_port, nginx_port = free_port(), free_port()
        story = 2 * args.duration + 30
        with ProviderSimulator(duration=story) as sim:
            config = config_for(sim, workdir, app_port)
            runtime = Runtime.build(config)
            for coordinator in runtime.coordinators.values():
                coordinator.interval, coordinator.jitter = 1.0, 0.2
            polls: list[PollSummary] = []
            runtime.on_poll.append(polls.append)
            for provider_id in runtime.coordinators:
                await poll_provider(runtime, provider_id)
            app = create_app(config, engine=runtime.engine)
            server, server_task = await start_web(app, "127.0.0.1", app_port)
            stopping = asyncio.Event()
            publishing = start_publisher(app, runtime.on_poll, stopping)
            service = Service(runtime)
            await service.start()
            # A release that fills over the whole run: the page changes under load.
            sim.release(60_000, fill_seconds=story)
            root = workdir / "public"
            while (
                not (root / args.path.lstrip("/")).exists() and not (root / "index.html").exists()
            ):
                await asyncio.sleep(0.05)
            prefix = workdir / "nginx"
            prefix.mkdir()
            (prefix / "nginx.conf").write_text(
                NGINX_CONF.format(prefix=prefix, port=nginx_port, root=root)
            )
            nginx = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(prefix),
                    "-c",
                    str(prefix / "nginx.conf"),
                    "-e",
                    str(prefix / "error.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                await wait_for_port(nginx_port)
                url = f"http://127.0.0.1:{app_port}{args.path}"
                page = await asyncio.to_thread(_fetch, url)
                size, places = len(page), page.count(b'<li class="place')
                polls_before = len(polls)
                ours = await run_wrk(
                    f"http://127.0.0.1:{app_port}{args.path}", args.duration, args.connections
                )
                polls_during = len(polls) - polls_before
                theirs = await run_wrk(
                    f"http://127.0.0.1:{nginx_port}{args.path}", args.duration, args.connections
                )
            finally:
                nginx.terminate()
                nginx.wait(timeout=10)
                await service.stop()
                stopping.set()
                await publishing
                server.should_exit = True
                await server_task
                await runtime.aclose()
    ratio = ours["requests_per_s"] / theirs["requests_per_s"] if theirs["requests_per_s"] else 0.0
    return {
        "path": args.path,
        "bytes": size,
        "places_on_page": places,
        "connections": args.connections,
        "duration_s": args.duration,
        "polls_while_loaded": polls_during,
        "app": ours,
        "nginx": theirs,
        "ratio": round(ratio, 3),
        "goal_met": ratio >= 0.25 and ours.get("p99_ms", 1e9) < 50,
    }


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def results(result: dict[str, Any]) -> Iterator[Result]:
    """The figures beside the goal (issue 8), as ``notifier bench --json`` lines."""
    app, nginx, ratio = result["app"], result["nginx"], result["ratio"]
    load = (
        f"{result['path']}, {result['connections']} connections, {result['duration_s']:g} s, "
        f"{result['polls_while_loaded']} polls while loaded"
    )
    yield Result(NAME, "page_requests_per_second", app["requests_per_s"], "req/s", None, True, load)
    nginx_rps = nginx["requests_per_s"]
    yield Result(NAME, "nginx_requests_per_second", nginx_rps, "req/s", None, nginx_rps > 0)
    yield Result(NAME, "page_vs_nginx", ratio, "x", ">= 0.25", ratio >= 0.25)
    p99 = app.get("p99_ms")
    yield Result(NAME, "page_p99_ms", p99, "ms", "< 50 ms", p99 is not None and p99 < 50)
    errors = app["non_2xx"] + app["socket_errors"]
    note = "non-2xx answers, plus 1 if wrk saw socket errors"
    yield Result(NAME, "page_errors", errors, "responses", "0", errors == 0, note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, help="seconds per server (default 10)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--path", default="/")
    add_suite_options(parser, f"{QUICK_DURATION:g} s per server unless --duration")
    args = parser.parse_args()
    args.duration = args.duration or (QUICK_DURATION if args.quick else 10.0)
    result = asyncio.run(bench(args))
    if args.json:
        print_json_lines(results(result))
        return
    app, nginx = result["app"], result["nginx"]
    print(
        f"{result['path']} ({result['bytes']:,} bytes), {result['connections']} connections, "
        f"{result['places_on_page']} places listed, "
        f"{result['polls_while_loaded']} polls while loaded"
    )
    for name, figures in (("app", app), ("nginx", nginx)):
        print(
            f"  {name:6} {figures['requests_per_s']:>10,.0f} req/s"
            f"  p50 {figures.get('p50_ms', 0):.2f} ms"
            f"  p99 {figures.get('p99_ms', 0):.2f} ms  non-2xx {figures['non_2xx']:.0f}"
        )
    print(f"  ratio app/nginx {result['ratio']:.2f}  goal met: {result['goal_met']}")
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
