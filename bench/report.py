"""``python -m bench.report``: bench/results/latest.json as the Markdown table of the README."""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _num(v, unit=""):
    if v is None:
        return "–"
    if isinstance(v, float):
        v = round(v) if abs(v) >= 100 else round(v, 1)
    return f"{v:,}{unit}"


def _cell(r):
    if not r:
        return "–"
    if "error" in r:
        return "error"
    ratio = r.get("ratio")
    flag = "" if r.get("meets_target") is None else (" ✓" if r["meets_target"] else " ✗")
    return f"{_num(r['ours'])} / {_num(r['floor'])} (×{ratio}){flag}"


def table(payload) -> str:
    scales = sorted(payload["scales"], key=int)
    names = []
    for s in scales:
        for name in payload["scales"][s]["benchmarks"]:
            if name not in names:
                names.append(name)
    head = "| benchmark | unit | target | " + " | ".join(
        f"scale {s}: ours / floor (ratio)" for s in scales
    )
    lines = [head + " |", "|---|---|---|" + "---|" * len(scales)]
    for name in names:
        rows = [payload["scales"][s]["benchmarks"].get(name) for s in scales]
        first = next((r for r in rows if r and "unit" in r), {})
        label = name
        queries = [r.get("queries") for r in rows if r and "queries" in r]
        if queries and name.startswith("page."):
            label += f" ({'/'.join(str(q) for q in queries)} queries)"
        lines.append(
            f"| {label} | {first.get('unit', '')} | {first.get('target') or ''} | "
            + " | ".join(_cell(r) for r in rows)
            + " |"
        )
    m = payload["machine"]
    dates = ", ".join(f"scale {s}: {payload['scales'][s]['date'][:10]}" for s in scales)
    lines.append("")
    lines.append(
        f"Measured {dates} on {m['cpus']} × {m['cpu']}, {m['memory']} RAM, Python {m['python']}, "
        f"PostgreSQL {m['postgresql'].split()[0]}, Django {m['django']}, "
        f"WeasyPrint {m['weasyprint']} (`{m['uname'].strip()}`)."
    )
    return "\n".join(lines)


def main():
    if not RESULTS.exists():
        print("No results yet: run `make bench`.")
        return
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
    sys.exit(0)
