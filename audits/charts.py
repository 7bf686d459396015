"""Server-side SVG geometry: audit score by section (OEM vs self-assessment) and the
scorecard trend. Each chart has a table beside it in the page."""

from decimal import Decimal


def section_bars(oem_score, ems_score, width=560, row_h=26, label_w=60) -> dict:
    ems = {s.code: s.pct for s in ems_score.sections}
    rows = []
    scale = (width - label_w - 50) / 100
    for i, s in enumerate(oem_score.sections):
        y = 8 + i * row_h
        rows.append(
            {
                "code": s.code,
                "title": s.title,
                "y": y,
                "oem": s.pct,
                "ems": ems.get(s.code),
                "oem_w": float(s.pct or 0) * scale,
                "ems_w": float(ems.get(s.code) or 0) * scale,
                "cls": "none"
                if s.pct is None
                else "good"
                if s.pct >= 80
                else "fair"
                if s.pct >= 70
                else "poor",
            }
        )
    return {
        "width": width,
        "height": 16 + len(rows) * row_h,
        "rows": rows,
        "label_w": label_w,
        "x80": label_w + 80 * scale,
        "x70": label_w + 70 * scale,
    }


def trend(audits, kpis, width=560, height=180, left=36, bottom=24) -> dict:
    """Audit scores (%) and on-time delivery (%) over time on one 0–100 axis."""
    points = [(a["actual_date"], a["score_pct"]) for a in audits if a["score_pct"] is not None]
    otd = [(k.month, Decimal(str(k.on_time_pct))) for k in kpis if k.on_time_pct is not None]
    dates = [d for d, _v in points + otd if d]
    if not dates:
        return {}
    lo, hi = min(dates), max(dates)
    span = max((hi - lo).days, 1)

    def x(d):
        return left + (d - lo).days / span * (width - left - 12)

    def y(v):
        return 8 + (100 - float(v)) / 100 * (height - bottom - 8)

    def path(series):
        return "M" + " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in series) if series else ""

    return {
        "width": width,
        "height": height,
        "left": left,
        "bottom": height - bottom,
        "audit_path": path(points),
        "otd_path": path(otd),
        "audit_dots": [{"x": x(d), "y": y(v), "label": f"{d}: {v}%"} for d, v in points],
        "grid": [{"y": y(v), "label": v} for v in (0, 50, 80, 100)],
        "first": lo,
        "last": hi,
    }
