"""The machine slide, the hosts slides of results from several machines, and the slide of
missing cells.
"""

from __future__ import annotations

import pandas as pd

from imgbench import words
from imgbench.analysis.metadata import CPU_MODELS_TOPIC
from imgbench.report.deck.model import (
    Row,
    Table,
    group_columns,
    group_order,
    group_values,
    several_places,
    text_cells,
)
from imgbench.vocabulary import GROUP, HOST


def host_names(hosts: list[dict]) -> list[str]:
    """Each host as the tables name it (older metadata: its hostname)."""
    return [words.text(h.get("host") or h.get("hostname")) for h in hosts]


def machine_rows(hosts: list[dict]) -> list[tuple[str, list[str]]]:
    def ram(host: dict) -> str:
        size = host.get("ram_bytes")
        return "n/a" if size is None else f"{size / 2**30:.1f} GiB"

    def pillow(host: dict) -> str:
        turbo = host.get("pillow_libjpeg_turbo")
        turbo_text = "n/a" if turbo is None else ("yes" if turbo else "no")
        return f"{words.text(host.get('pillow_version'))} (libjpeg-turbo: {turbo_text})"

    def cores(host: dict) -> str:
        keys = ("physical_cores", "logical_cores", "usable_cores")
        return " / ".join(words.text(host.get(k)) for k in keys)

    fields = [
        ("Host", lambda h: words.text(h.get("hostname"))),
        *([("Cells", lambda h: words.text(h.get("cells")))] if len(hosts) > 1 else []),
        ("CPU", lambda h: words.text(h.get("cpu_model"))),
        ("Cores: physical / logical / usable", cores),
        ("RAM", ram),
        ("OS", lambda h: words.text(h.get("platform"))),
        ("Python", lambda h: words.text(h.get("python_version"))),
        ("Pillow", pillow),
        ("numpy", lambda h: words.text(h.get("numpy_version"))),
        ("Snakemake", lambda h: words.text(h.get("snakemake_version"))),
        ("Workflow commit", lambda h: words.text(h.get("workflow_commit"))),
    ]
    return [(label, [get(h) for h in hosts]) for label, get in fields]


def host_lines(meta: dict, summary: pd.DataFrame) -> list[str]:
    """Which hosts took part: name, CPU, usable cores and cells of each."""
    hosts = meta.get("hosts") or [{"host": h} for h in sorted(pd.unique(summary[HOST].astype(str)))]
    lines = []
    for host in hosts:
        cores = host.get("usable_cores")
        parts = [
            words.text(host.get("cpu_model")),
            *([f"{cores} usable cores"] if cores is not None else []),
            *([f"{host['cells']} cells"] if host.get("cells") is not None else []),
        ]
        lines.append(f"{host_names([host])[0]}: {', '.join(parts)}")
    return lines


def cpu_warning(meta: dict) -> str:
    """The warning that one experiment's cells ran on several CPU models, or ""."""
    texts = [
        str(w.get("text"))
        for w in meta.get("aggregate_warnings", [])
        if isinstance(w, dict) and w.get("topic") == CPU_MODELS_TOPIC
    ]
    cpus = meta.get("cpu_models", [])
    if texts:
        return " ".join(texts)
    if len(cpus) > 1:
        return (
            f"{len(meta.get('hosts', []))} hosts / {len(cpus)} CPU models took part: each host "
            "is analysed on its own; compare cells only within one machine."
        )
    return ""


#: Above this many groups the hosts' table keeps each task's largest number of images.
HOST_TABLE_ROWS = 20


def hosts_table(recommendations: pd.DataFrame) -> tuple[Table, str]:
    """The fastest cell of each group on each host, side by side, and a note on the rows.

    Beyond ``HOST_TABLE_ROWS`` groups only each task's largest number of images is kept.
    """
    hosts = sorted(pd.unique(recommendations[HOST].astype(str)))
    groups = group_order(recommendations.drop_duplicates(GROUP))
    note = "Every group is shown."
    if len(groups) > HOST_TABLE_ROWS:
        largest = groups.groupby("task")["n_images"].transform("max")
        groups = groups[groups["n_images"] == largest]
        note = (
            "Each task's largest number of images only; every group is on the "
            "Recommendations slide and in recommendations.csv."
        )
    places = not groups.empty and several_places(groups)
    columns = group_columns(places)
    table = Table(
        columns=[
            *columns,
            *[c for _ in hosts for c in (("fastest", False), ("speedup", True))],
            ("same strategy", False),
        ],
        groups=[("", len(columns)), *((host, 2) for host in hosts), ("", 1)],
    )
    by_key = {
        tuple(key): rec
        for key, rec in zip(
            recommendations[[*GROUP, HOST]].itertuples(index=False),
            recommendations.to_dict("records"),
            strict=True,
        )
    }
    for _, group in groups.iterrows():
        values = group_values(group, places)
        winners = set()
        for host in hosts:
            rec = by_key.get((*(group[c] for c in GROUP), host))
            if rec is None:
                values += [("not measured", False), ("—", True)]
                continue
            winners.add(str(rec["best_strategy"]))
            values += [
                (words.who(str(rec["best_strategy"]), rec["best_workers"]), False),
                (
                    words.speedup_ci(
                        rec["speedup"], rec.get("speedup_ci_low"), rec.get("speedup_ci_high")
                    ),
                    True,
                ),
            ]
        values.append(("yes" if len(winners) == 1 else "no", False))
        table.rows.append(Row(text_cells(values)))
    return table, note


#: How many missing cells the deck lists before it only counts them (metadata.json has all).
MISSING_SHOWN = 40


def missing_section(meta: dict) -> dict | None:
    """The missing cells: how many, and the first ``MISSING_SHOWN`` of them (with the hosts
    that lack each when several hosts took part); None when nothing is missing."""
    missing = [str(m) for m in meta.get("missing_cells") or []]
    if not missing:
        return None
    by_host = meta.get("missing_cells_by_host") or {}
    names = host_names(meta.get("hosts", []))
    lacking: dict[str, list[str]] = {}
    for host, paths in sorted(by_host.items()):
        for path in paths:
            lacking.setdefault(str(path), []).append(str(host))
    items = []
    for path in missing[:MISSING_SHOWN]:
        hosts = lacking.get(path, [])
        on = f"on {words.joined(hosts)}" if len(names) > 1 and 0 < len(hosts) < len(names) else ""
        items.append({"path": path, "on": on})
    expected = meta.get("expected_cells")
    summary = f"{len(missing)} of {words.text(expected)} expected cells have no result"
    if len(names) > 1:
        counts = [f"{name}: {len(by_host.get(name, []))}" for name in names]
        summary += f" (missing per host: {words.joined(counts)})"
    return {
        "summary": summary + ". The tables, figures and verdicts cover the cells that ran.",
        "items": items,
        "more": (
            f"… and {len(missing) - MISSING_SHOWN} more: metadata.json (missing_cells) lists "
            "every one."
            if len(missing) > MISSING_SHOWN
            else ""
        ),
        "partial": f"Partial results: {len(missing)} of {words.text(expected)} expected cells are "
        "missing.",
    }
