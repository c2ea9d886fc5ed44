"""The pages' budgets (docs/web.md), measured: ``python -m bench.pages`` after ``make bench`` has seeded its
database (it reads the bench dataset, and changes nothing in it).

1. The weight of the pages' own JavaScript and CSS, compressed as WhiteNoise serves them (gzip).
2. The server's time for the teacher dashboard page against the API's dashboard, the same busy teacher,
   both answered from the same warm cache, in one process (Django's test client: no network, no proxy).
3. First contentful paint of a cold load (a new browser context: nothing cached) of the dashboard page in
   headless Chromium, served by uvicorn on the same database.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://root@127.0.0.1:5432/chalkboard_bench")
ASSETS = [ROOT / "chalkboard/web/static/web/app.css", ROOT / "chalkboard/web/static/web/app.js"]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROUNDS, REQUESTS, LOADS = 3, 300, 9
FIRST_PAINT = """() => new Promise((resolve) => {
  const seen = performance.getEntriesByName("first-contentful-paint");
  if (seen.length) { resolve(seen[0].startTime); return; }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) { if (entry.name === "first-contentful-paint") resolve(entry.startTime); }
  }).observe({ type: "paint", buffered: true });
  setTimeout(() => resolve(null), 5000);
})"""


def asset_weight() -> dict[str, int]:
    return {path.name: len(gzip.compress(path.read_bytes(), compresslevel=9)) for path in ASSETS}


def server_times() -> dict[str, float | int]:
    """The busiest teacher's dashboard, as the API and as the page, median and p90 in milliseconds."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from chalkboard.accounts.services import token_create

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT teacher_id, school_id FROM scheduling_session GROUP BY teacher_id, school_id "
            "ORDER BY COUNT(*) DESC, teacher_id LIMIT 1"
        )
        teacher_id, school_id = cursor.fetchone()
    user = get_user_model().objects.get(pk=teacher_id)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user)[0]}")
    page = Client()
    page.force_login(user)
    api_url = f"/api/teachers/{teacher_id}/dashboard/?school={school_id}"
    page_url = f"/app/teachers/{teacher_id}/dashboard/?school={school_id}"

    def timed(client: Client, url: str) -> list[float]:
        spent = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            response = client.get(url)
            spent.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        return spent

    timed(api, api_url), timed(page, page_url)  # warm: both read the cached page from here on
    api_ms: list[float] = []
    page_ms: list[float] = []
    for _ in range(ROUNDS):  # interleaved, so that the machine's moods fall on both
        api_ms += timed(api, api_url)
        page_ms += timed(page, page_url)

    def p90(values: list[float]) -> float:
        return round(sorted(values)[int(len(values) * 0.9)], 2)

    return {
        "teacher_id": teacher_id,
        "api_median_ms": round(statistics.median(api_ms), 2),
        "page_median_ms": round(statistics.median(page_ms), 2),
        "api_p90_ms": p90(api_ms),
        "page_p90_ms": p90(page_ms),
    }


def first_paint() -> dict[str, object]:
    """Cold loads of the dashboard page of a teacher signed in by the page's form."""
    from playwright.sync_api import sync_playwright

    manifest = json.loads((ROOT / "var/bench-manifest.json").read_text())
    email = manifest["schools"][0]["teachers"][0]["email"]
    port = 8799
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port), "--no-access-log"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    paints: list[float] = []
    try:
        time.sleep(4)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#email", email)
            page.fill("#password", manifest["password"])
            page.click("button[type=submit]")
            page.wait_for_url("**/dashboard/**")  # a teacher lands on their dashboard
            url, signed_in = page.url, context.storage_state()
            context.close()
            for _ in range(LOADS):
                cold = browser.new_context(storage_state=signed_in)  # signed in, nothing cached
                loaded = cold.new_page()
                loaded.goto(url)
                paint = loaded.evaluate(FIRST_PAINT)  # over the DevTools protocol: the page's CSP forbids eval
                if paint is not None:  # headless Chromium does not always report a paint
                    paints.append(paint)
                cold.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {
        "loads": LOADS,
        "reported": len(paints),
        "median_ms": round(statistics.median(paints)) if paints else None,
        "max_ms": round(max(paints)) if paints else None,
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("THROTTLE_USER", "1000000/min")
    os.environ.setdefault("THROTTLE_DASHBOARD", "1000000/min")
    weight = asset_weight()
    print(json.dumps({"assets_gzip_bytes": weight, "assets_gzip_total": sum(weight.values())}))
    print(json.dumps({"server_time": server_times()}))
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    print(json.dumps({"first_contentful_paint": first_paint()}))


if __name__ == "__main__":
    main()
