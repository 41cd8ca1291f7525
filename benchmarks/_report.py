"""The benchmark's tables (printed, and the README's markdown) and its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_rows(title: str, rows: list[dict[str, Any]], *, rtt: float | None) -> None:
    table = []
    for row in sorted(rows, key=lambda row: (row["operation"], row["system"])):
        cells = {
            "system": row["system"],
            "operation": row["operation"],
            "commands": row["commands"],
            "sent B": row["bytes_sent"],
            "received B": row["bytes_received"],
            "CPU µs (min-max)": _median_range(row["cpu_us"]),
            "wall ops/s (min-max)": _median_range(row["wall_ops_per_s"]),
        }
        if rtt:
            cells[f"ops/s at {rtt:g} ms RTT"] = _median_range(row["rtt_ops_per_s"])
        table.append(cells)
    print_table(title, table)


def print_memory(rows: list[dict[str, Any]]) -> None:
    print_table(
        f"In memory, {rows[0]['history']} events",
        [
            {
                "system": row["system"],
                "operation": row["operation"],
                "CPU µs (min-max)": _median_range(row["cpu_us"]),
                "ops/s": row["ops_per_s"],
            }
            for row in rows
        ],
    )


def _median_range(spread: dict[str, float]) -> str:
    return f"{spread['median']:,.0f} ({spread['min']:,.0f}-{spread['max']:,.0f})"


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## {title}")
    if not rows:
        return
    header = list(rows[0])
    cells = [[_fmt(row.get(key)) for key in header] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"
    return str(value)


SHORT = {
    "hector-mongo-session": "ours",
    "bare driver": "bare driver",
    "google-adk MongoDbSessionService": "ADK MongoDb",
    "openai-agents MongoDBSession": "OpenAI MongoDBSession",
}


def markdown(results: dict[str, Any]) -> str:
    """The README's tables, from one run's results."""
    out: list[str] = []
    systems = [name for name in SHORT if any(row["system"] == name for row in results["rows"])]
    for operation in ("append", "get 20", "list 50"):
        rows = [row for row in results["rows"] if row["operation"] == operation]
        if not rows:
            continue
        here = [name for name in systems if any(row["system"] == name for row in rows)]
        out.append(
            f"\n**{operation}** — commands / client CPU µs, median (min-max) / bytes "
            "sent+received; ours ÷ bare driver CPU (median of the rounds' ratios)\n"
        )
        out.append("| events | " + " | ".join(SHORT[name] for name in here) + " | ours ÷ bare |")
        out.append("|---" * (len(here) + 2) + "|")
        for history in sorted({row["history"] for row in rows}):
            cells, ratio = [], "—"
            for name in here:
                found = [r for r in rows if r["system"] == name and r["history"] == history]
                if not found:
                    cells.append("—")
                    continue
                row = found[0]
                cells.append(
                    f"{row['commands']} / {_median_range(row['cpu_us'])} / "
                    f"{row['bytes_sent'] + row['bytes_received']:,}"
                )
                if name == "hector-mongo-session" and row.get("cpu_vs_bare"):
                    ratio = f"{row['cpu_vs_bare']:.2f}"
            out.append(f"| {history:,} | " + " | ".join(cells) + f" | {ratio} |")
    out += _wall(results, systems)
    out.append("\n**History growth** (ours; window of " + str(results["window"]) + " events)\n")
    out.append(
        "| events | session document B | received per get 20 B | CPU µs per append | "
        "CPU µs per get 20 | commands per append |"
    )
    out.append("|---|---|---|---|---|---|")
    for row in results["growth"]:
        out.append(
            f"| {row['history']:,} | {row['document_bytes']:,} | "
            f"{row.get('get_20_bytes_received', 0):,} | {row.get('append_cpu_us', 0):,.0f} | "
            f"{row.get('get_20_cpu_us', 0):,.0f} | {row['commands_per_append']:.2f} |"
        )
    memory = results.get("in_memory") or []
    if memory:
        out.append(f"\n**In memory**, {memory[0]['history']:,} events (client CPU µs per op)\n")
        out.append(
            "| operation | google-adk InMemorySessionService | ours InMemoryService | ADK ÷ ours |"
        )
        out.append("|---|---|---|---|")
        for operation in ("append", "get 20"):
            by = {row["system"]: row for row in memory if row["operation"] == operation}
            adk = by.get("google-adk InMemorySessionService")
            mine = by["hector-mongo-session InMemoryService"]
            ratio = (
                "—" if adk is None else f"{adk['cpu_us']['median'] / mine['cpu_us']['median']:.1f}x"
            )
            out.append(
                f"| {operation} | {'—' if adk is None else _median_range(adk['cpu_us'])} | "
                f"{_median_range(mine['cpu_us'])} | {ratio} |"
            )
    return "\n".join(out) + "\n"


def _wall(results: dict[str, Any], systems: list[str]) -> list[str]:
    """Wall ops/s per system, direct and through the latency proxy: one table."""
    rtt = results.get("rtt_ms")
    title = "\n**wall ops/s** — median (min-max)"
    if rtt:
        title += f"; direct / at {rtt:g} ms RTT (through the latency proxy)"
    out = [title + "\n", "| operation | events | " + " | ".join(SHORT[n] for n in systems) + " |"]
    out.append("|---" * (len(systems) + 2) + "|")
    by = {(row["operation"], row["history"], row["system"]): row for row in results["rows"]}
    for operation, history in sorted({(row["operation"], row["history"]) for row in by.values()}):
        cells = []
        for name in systems:
            row = by.get((operation, history, name))
            if row is None:
                cells.append("—")
            else:
                keys = ("wall_ops_per_s", "rtt_ops_per_s") if rtt else ("wall_ops_per_s",)
                cells.append(" / ".join(_median_range(row[key]) for key in keys))
        out.append(f"| {operation} | {history:,} | " + " | ".join(cells) + " |")
    return out


def chart(results: dict[str, Any], path: Path, *, window: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    (cpu_append, cpu_get), (size, calls) = axes
    for axis, operation in ((cpu_append, "append"), (cpu_get, "get 20")):
        systems = sorted({row["system"] for row in results["rows"]})
        for system in systems:
            rows = [
                row
                for row in results["rows"]
                if row["system"] == system and row["operation"] == operation
            ]
            if rows:
                axis.plot(
                    [row["history"] for row in rows],
                    [row["cpu_us"]["median"] for row in rows],
                    "o-",
                    label=system,
                )
        axis.set_title(f"client CPU per {operation} (µs)")
        axis.set_xscale("log")
        axis.set_xlabel("events in the session")
        axis.set_ylim(bottom=0)
        axis.legend(fontsize=7)
    growth = results["growth"]
    histories = [row["history"] for row in growth]
    size.plot(histories, [row["document_bytes"] for row in growth], "o-", label="session document")
    size.plot(
        histories,
        [row.get("get_20_bytes_received", 0) for row in growth],
        "s-",
        label="received per get of 20",
    )
    size.set_title(f"bytes (window {results['window']} events)")
    size.set_xscale("log")
    size.set_yscale("log")
    size.set_xlabel("events in the session")
    size.legend(fontsize=7)
    calls.plot(histories, [row["commands_per_append"] for row in growth], "o-")
    calls.set_title(f"commands per append (over {window // 4 + 1} appends, archive moves included)")
    calls.set_xscale("log")
    calls.set_ylim(0, 2)
    calls.set_xlabel("events in the session")
    figure.suptitle(results["backend"], fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True
