#!/usr/bin/env python3
"""A small ERP sync client for the OEM–EMS Partnership Portal — standard library only.

It shows the three habits an unattended integration needs:

* **pull incrementally**: ``GET /api/v1/<resource>/?updated_since=…`` follows the keyset
  cursor (``next``) to the end and remembers ``next_updated_since`` for the next run, so no
  row is skipped or repeated even while people edit data during the sync;
* **push safely**: every POST carries an ``Idempotency-Key``; a retry after a timeout replays
  the stored answer instead of creating a second forecast;
* **retry with backoff** on network errors, 429 (honouring ``Retry-After``) and 5xx.

Examples::

    export PORTAL_URL=https://portal.example.com PORTAL_KEY=ppk_…
    python examples/erp_sync.py pull products --since 2026-01-01T00:00:00Z
    python examples/erp_sync.py push-demand 12 forecast.csv      # partnership 12
"""

import argparse
import csv
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

RETRY_STATUSES = {429, 500, 502, 503, 504}


class PortalError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class PortalClient:
    def __init__(self, base_url, api_key, *, attempts=5, backoff=0.5, timeout=30, opener=None):
        self.base = base_url.rstrip("/")
        self.key = api_key
        self.attempts, self.backoff, self.timeout = attempts, backoff, timeout
        self.opener = opener or urllib.request.build_opener()

    def request(self, method, path_or_url, *, body=None, idempotency_key=None):
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with self.opener.open(req, timeout=self.timeout) as response:
                    payload = response.read()
                    return json.loads(payload) if payload else None
            except urllib.error.HTTPError as exc:
                text = exc.read().decode(errors="replace")
                if exc.code not in RETRY_STATUSES or attempt == self.attempts:
                    raise PortalError(exc.code, text) from None
                wait = float(exc.headers.get("Retry-After") or delay)
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == self.attempts:
                    raise
                wait = delay
            time.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def pull(self, resource, *, since=None, page_size=200, **filters):
        """Every row changed since ``since``; returns (rows, next_updated_since)."""
        params = {"page_size": page_size, "sync": 1, **filters}
        if since:
            params["updated_since"] = since
        url = f"/api/v1/{resource}/?{urllib.parse.urlencode(params)}"
        rows, marker = [], since
        while url:
            page = self.request("GET", url)
            rows += page["results"]
            marker = page.get("next_updated_since", marker)
            url = page.get("next")
        return rows, marker

    def push_demand(self, partnership, rows, *, note="", idempotency_key=None):
        """Publish a forecast version; safe to retry with the same key."""
        key = idempotency_key or str(uuid.uuid4())
        body = {"partnership": partnership, "note": note, "rows": rows}
        return self.request("POST", "/api/v1/demand-publications/", body=body, idempotency_key=key)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PORTAL_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("PORTAL_KEY"))
    sub = parser.add_subparsers(dest="command", required=True)
    pull = sub.add_parser("pull", help="pull a resource incrementally")
    pull.add_argument("resource")
    pull.add_argument("--since")
    push = sub.add_parser(
        "push-demand", help="publish a demand forecast from CSV (product,week,quantity)"
    )
    push.add_argument("partnership", type=int)
    push.add_argument("csv_file")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("give --key or set PORTAL_KEY")
    client = PortalClient(args.url, args.key)
    if args.command == "pull":
        rows, marker = client.pull(args.resource, since=args.since)
        json.dump({"rows": rows, "next_updated_since": marker}, sys.stdout, indent=1)
    else:
        with open(args.csv_file, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        json.dump(client.push_demand(args.partnership, rows), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
