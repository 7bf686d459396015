"""Server-side SVG geometry for the capacity chart and the production Gantt: no JavaScript,
no CDN, and a table beside each for screen readers."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 960, 300, 48, 36, 14


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    cls: str
    label: str


def capacity_chart(loads, warning_pct: int, critical_pct: int) -> dict:
    """Demand bars and a capacity step line per week; bars coloured by utilisation."""
    if not loads:
        return {}
    peak = max([max(load.demand, load.capacity) for load in loads] + [Decimal(1)])
    top = float(peak) * 1.1
    plot_h = HEIGHT - BOTTOM - TOP
    step = (WIDTH - LEFT) / len(loads)

    def y(value):
        return TOP + plot_h - float(value) / top * plot_h

    bars, cap_points, ticks = [], [], []
    for i, load in enumerate(loads):
        x = LEFT + i * step
        u = load.utilisation
        cls = "ok"
        if u is not None and u >= critical_pct:
            cls = "critical"
        elif u is not None and u >= warning_pct:
            cls = "warning"
        bar_top = y(load.demand)
        bars.append(
            Bar(
                x + step * 0.15,
                bar_top,
                step * 0.7,
                TOP + plot_h - bar_top,
                cls,
                f"{load.week:%G-W%V}: {load.demand:.0f} / {load.capacity:.0f} {load.unit}",
            )
        )
        cap_points += [(x, y(load.capacity)), (x + step, y(load.capacity))]
        if i % 2 == 0:
            ticks.append({"x": x + step / 2, "label": f"W{load.week:%V}"})
    gridlines = [{"y": y(top * f / 4), "label": f"{top * f / 4:.0f}"} for f in range(0, 5)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "bottom": HEIGHT - BOTTOM,
        "bars": bars,
        "capacity_path": "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in cap_points),
        "ticks": ticks,
        "gridlines": gridlines,
        "tick_y": HEIGHT - BOTTOM + 16,
    }


def gantt(runs, start: dt.date, weeks: int = 16) -> dict:
    """One row per run from launch to due date, over ``weeks`` weeks from ``start``."""
    row_h, label_w, width = 26, 230, 960
    days = weeks * 7
    scale = (width - label_w) / days
    rows = []
    for run in runs:
        a = max((run.planned_launch - start).days, 0)
        b = min((run.due_date - start).days + 1, days)
        if b <= 0 or a >= days:
            continue
        rows.append(
            {
                "y": 24 + len(rows) * row_h,
                "x": label_w + a * scale,
                "w": max((b - a) * scale, 3),
                "label": f"{run.product.part_number} × {run.quantity}",
                "run": run,
                "cls": f"st-{run.status} pr-{run.priority}",
            }
        )
    months = []
    day = start
    while (day - start).days < days:
        if day.day <= 7 or day == start:
            months.append({"x": label_w + (day - start).days * scale, "label": f"{day:%d %b}"})
        day += dt.timedelta(days=7)
    today = (dt.date.today() - start).days
    return {
        "width": width,
        "height": 30 + len(rows) * row_h,
        "rows": rows,
        "label_w": label_w,
        "months": months,
        "today_x": label_w + today * scale if 0 <= today < days else None,
    }
