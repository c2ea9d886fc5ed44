"""A small dashboard client: prints a teacher's or an admin's events as they happen, and never misses one.

    python examples/realtime_client.py --email ana@example.test --password ...
    python examples/realtime_client.py --token <bearer token> --url ws://127.0.0.1:8000

It keeps the id of the last event it received and, whenever the connection drops, reconnects with
``?since=<that id>``: the server first sends what was missed, then live events. On ``resync`` a real
dashboard reloads its page over HTTP; here it just says so. Close code 4401 means the token is no longer
valid (log in again); 4403 means this user has no dashboard to follow.

Needs only the ``websockets`` package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PING_EVERY_SECONDS = 25
FINAL_CLOSE_CODES = {4401: "the token is no longer valid: log in again", 4403: "no dashboard to follow"}


def log_in(http_url: str, email: str, password: str) -> str:
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(  # noqa: S310 (the URL is the user's own server)
        f"{http_url}/api/auth/token/", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(json.loads(response.read())["token"])


async def keep_alive(ws: ClientConnection) -> None:
    while True:
        await asyncio.sleep(PING_EVERY_SECONDS)
        await ws.send(json.dumps({"type": "ping"}))


def show(message: dict[str, Any]) -> None:
    print(
        f"#{message['id']} {message['occurred_at']} {message['type']} school={message['school_id']} "
        f"teacher={message['teacher_id']} {json.dumps(message['data'])}"
    )


async def follow(ws_url: str, token: str) -> None:
    last_id: int | None = None
    delay = 1.0
    while True:
        url = f"{ws_url}/ws/dashboard/" + (f"?since={last_id}" if last_id is not None else "")
        try:
            async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                delay = 1.0
                pinger = asyncio.create_task(keep_alive(ws))
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        kind = message["type"]
                        if kind == "resync":
                            print(f"resync ({message['reason']}): reload the dashboard over HTTP")
                            last_id = message["id"]
                        elif kind == "pong":
                            continue
                        elif kind == "error":
                            print(f"server says: {message['message']}")
                        else:
                            show(message)
                            last_id = message["id"]
                finally:
                    pinger.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pinger
                code = ws.close_code
        except (OSError, ConnectionClosed) as error:
            code = getattr(getattr(error, "rcvd", None), "code", None)
        if code in FINAL_CLOSE_CODES:
            print(f"closed {code}: {FINAL_CLOSE_CODES[code]}")
            return
        print(f"disconnected ({code}); reconnecting from #{last_id} in {delay:.0f} s")
        await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter)
        delay = min(delay * 2, 30.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="ws://127.0.0.1:8000", help="the server, ws:// or wss://")
    parser.add_argument("--token", help="a bearer token (else --email and --password)")
    parser.add_argument("--email")
    parser.add_argument("--password")
    args = parser.parse_args()
    ws_url = args.url.rstrip("/")
    parts = urlsplit(ws_url)
    http_url = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
    token = args.token or log_in(http_url, args.email, args.password)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(follow(ws_url, token))


if __name__ == "__main__":
    main()
