"""Results of several hosts in one report: analysed host by host, never pooled, and set side
by side in the deck; a single host's report is what it always was."""

from __future__ import annotations

import copy
import html as html_lib
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from imgbench.analysis import results as result_files
from imgbench.analysis.amdahl import amdahl_frame
from imgbench.analysis.metadata import metadata
from imgbench.analysis.tables import build_tables
from imgbench.cli import main
from imgbench.errors import ImgbenchError
from imgbench.measure.result import SCHEMA_VERSION
from imgbench.report.deck.render import render_deck
from imgbench.report.figures import ALWAYS_WRITTEN, FORMATS, WORKLOAD_DIR
from imgbench.report.figures.plot import plot_all
from imgbench.vocabulary import CellSpec
from tests.helpers import cell_result


def on_host(result: dict, hostname: str, cpu: str = "Test CPU", cores: int = 2) -> dict:
    out = copy.deepcopy(result)
    out["machine"].update(hostname=hostname, cpu_model=cpu, usable_cores=cores)
    return out


# alpha: threads x2 halve the loop's time. beta (another CPU): threads x2 are slower than
# its loop, which itself takes a different time.
ALPHA = [
    cell_result("serial", 1, [4.0, 4.1, 3.9, 4.0, 4.05, 3.95]),
    cell_result("threads", 2, [2.0, 2.1, 1.9, 2.0, 2.05, 1.95]),
]
BETA = [
    cell_result("serial", 1, [3.0, 3.1, 2.9, 3.0, 3.05, 2.95]),
    cell_result("threads", 2, [6.0, 6.1, 5.9, 6.0, 6.05, 5.95]),
]


def two_hosts(beta_cpu: str = "Beta CPU") -> list[dict]:
    return [on_host(r, "alpha", "Alpha CPU") for r in ALPHA] + [
        on_host(r, "beta", beta_cpu, cores=8) for r in BETA
    ]


def tables(results: list[dict]) -> dict[str, pd.DataFrame]:
    return build_tables(results)


def _serial(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["baseline"] == "serial"].set_index(["host", "strategy", "workers"])


# ----- the analysis --------------------------------------------------------------------------


def test_the_same_cell_on_two_hosts_is_two_cells():
    summary = tables(two_hosts())["summary"].set_index(["host", "strategy", "workers"])
    assert len(summary) == 4
    assert summary.loc[("alpha", "serial", 1), "median_s"] == pytest.approx(4.0)
    assert summary.loc[("beta", "serial", 1), "median_s"] == pytest.approx(3.0)
    assert summary.loc[("alpha", "threads", 2), "reps"] == 6  # not 12: never pooled
    assert summary.loc[("beta", "threads", 2), "usable_cores"] == 8


def test_speedup_is_over_the_loop_of_the_same_host():
    built = tables(two_hosts())
    speedup = _serial(built["speedup"])
    assert speedup.loc[("alpha", "threads", 2), "baseline_median_s"] == pytest.approx(4.0)
    assert speedup.loc[("alpha", "threads", 2), "speedup"] == pytest.approx(2.0)
    assert speedup.loc[("beta", "threads", 2), "baseline_median_s"] == pytest.approx(3.0)
    assert speedup.loc[("beta", "threads", 2), "speedup"] == pytest.approx(0.5)
    efficiency = _serial(built["efficiency"])
    assert efficiency.loc[("beta", "threads", 2), "efficiency"] == pytest.approx(0.25)
    for name in ("speedup", "efficiency", "amdahl", "comparisons", "recommendations"):
        assert "host" in built[name].columns, name


def test_a_host_without_a_loop_borrows_none_from_another():
    results = two_hosts()
    del results[2]  # beta's serial loop
    speedup = _serial(tables(results)["speedup"])
    assert speedup.loc[("alpha", "threads", 2), "speedup"] == pytest.approx(2.0)
    assert math.isnan(speedup.loc[("beta", "threads", 2), "speedup"])


def test_comparisons_and_recommendations_per_host():
    built = tables(two_hosts())
    best = built["comparisons"].groupby("host")["best_strategy"].first().to_dict()
    assert best == {"alpha": "threads", "beta": "serial"}
    recs = built["recommendations"].set_index("host")
    assert list(recs.index) == ["alpha", "beta"]
    assert recs.loc["alpha", "best_strategy"] == "threads"
    assert recs.loc["beta", "best_strategy"] == "serial"
    # With several hosts each sentence says which host it is about.
    assert recs.loc["alpha", "sentence"].startswith("On alpha, for decode at 10 images")
    assert recs.loc["beta", "sentence"].startswith("On beta, for decode at 10 images")


def test_amdahl_is_fitted_per_host():
    results = []
    for host, serial_part in (("alpha", 2.0), ("beta", 6.0)):
        for p in (1, 2, 4):
            walls = [serial_part + 8.0 / p] * 4
            results.append(on_host(cell_result("threads", p, walls), host, cores=8))
    fits = amdahl_frame(tables(results)["summary"]).set_index("host")
    assert fits.loc["alpha", "serial_fraction"] == pytest.approx(0.2)
    assert fits.loc["beta", "serial_fraction"] == pytest.approx(6.0 / 14.0)


def test_a_single_host_is_analysed_as_before():
    alone = tables([on_host(r, "alpha", "Alpha CPU") for r in ALPHA])
    both = tables(two_hosts())
    for name in ("summary", "speedup", "amdahl", "recommendations"):
        one = alone[name].drop(columns=["speedup_ci_low", "speedup_ci_high"], errors="ignore")
        two = both[name][both[name]["host"] == "alpha"].reset_index(drop=True)
        two = two.drop(columns=["speedup_ci_low", "speedup_ci_high"], errors="ignore")
        if name == "recommendations":
            # One host: the sentence does not name it.
            assert one["sentence"].iloc[0].startswith("For decode")
            one, two = one.drop(columns="sentence"), two.drop(columns="sentence")
        pd.testing.assert_frame_equal(one, two, check_dtype=False)
    meta = metadata(ALPHA, result_files.timings_frame(ALPHA))
    assert meta["aggregate_warnings"] == [] and meta["missing_cells"] == []
    assert [h["hostname"] for h in meta["hosts"]] == ["h"]


def test_cpu_models_are_warned_about_and_hosts_listed():
    results = two_hosts()
    meta = metadata(results, result_files.timings_frame(results))
    assert [(h["host"], h["cpu_model"], h["cells"]) for h in meta["hosts"]] == [
        ("alpha", "Alpha CPU", 2),
        ("beta", "Beta CPU", 2),
    ]
    assert meta["cpu_models"] == ["Alpha CPU", "Beta CPU"]
    (warning,) = meta["aggregate_warnings"]
    assert warning["topic"] == "CPU models"
    assert (
        "experiment e ran on 2 CPU models: Alpha CPU (alpha); Beta CPU (beta)" in (warning["text"])
    )
    assert warning["text"] in meta["warnings"]
    same = two_hosts(beta_cpu="Alpha CPU")
    assert metadata(same, result_files.timings_frame(same))["aggregate_warnings"] == []


def test_one_hostname_with_two_cpus_is_two_hosts():
    results = [on_host(r, "box", "Old CPU") for r in ALPHA]
    results += [on_host(r, "box", "New CPU") for r in BETA]
    summary = tables(results)["summary"]
    assert sorted(set(summary["host"])) == ["box (New CPU)", "box (Old CPU)"]
    topics = [
        w["topic"]
        for w in metadata(results, result_files.timings_frame(results))["aggregate_warnings"]
    ]
    assert topics == ["CPU models", "Hosts"]


def test_one_cell_twice_from_one_host_is_refused(tmp_path):
    twice = [on_host(ALPHA[0], "alpha"), on_host(ALPHA[0], "alpha")]
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    with pytest.raises(ImgbenchError, match=r"a\.json and .*b\.json: the same cell twice"):
        result_files.check_results(twice, paths)
    result_files.check_results([twice[0], on_host(ALPHA[0], "beta")], paths)  # two hosts: fine
    # The same cell in another round is normal: a cell runs as several jobs.
    second = copy.deepcopy(twice[1])
    second["run"]["round"] = 2
    result_files.check_results([twice[0], second], paths)


# ----- gathering, figures and the deck --------------------------------------------------------


def write_cells(root: Path, results: list[dict]) -> Path:
    """Cell files at their workflow paths under ``root``, as the runner writes them."""
    for result in results:
        path = root / CellSpec(**result["cell"]).result_path(result["run"].get("round", 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **result}))
    return root


def headings(deck: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r"<h[12]>(.*?)</h[12]>", deck)]


def report(tmp_path: Path, argv: list[str]) -> tuple[Path, str]:
    out = tmp_path / "out"
    assert main(["aggregate", *argv, "--output-dir", str(out)]) == 0
    plot_all(out, out / "figures")
    render_deck(out, out / "slides.html")
    return out, (out / "slides.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def two_host_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hosts")
    # One tree with a subdirectory per host, and a second machine's own results directory.
    gathered = write_cells(tmp_path / "gathered" / "alpha", two_hosts()[:2]).parent
    beta = write_cells(tmp_path / "beta-results", two_hosts()[2:]) / "e"
    return report(tmp_path, ["--results-dir", str(gathered), "--results-dir", str(beta)])


def test_aggregate_gathers_several_results_directories(two_host_report):
    out, _ = two_host_report
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(set(summary["host"])) == ["alpha", "beta"] and len(summary) == 4
    meta = json.loads((out / "metadata.json").read_text())
    assert [h["host"] for h in meta["hosts"]] == ["alpha", "beta"]
    assert any("2 CPU models" in w for w in meta["warnings"])


def test_hosts_figure_is_drawn_only_for_several_hosts(two_host_report, tmp_path):
    out, _ = two_host_report
    assert (out / "figures" / "hosts.png").is_file() and (out / "figures" / "hosts.svg").is_file()
    single = tmp_path / "single"
    assert main(["aggregate", "--output-dir", str(single), *map(str, cell_files(tmp_path))]) == 0
    figures = single / "figures"
    figures.mkdir()
    (figures / "hosts.png").write_bytes(b"stale")  # from an earlier run of several hosts
    written = plot_all(single, figures)
    # Every figure of one host, and each task and size's own (in figures/tasks/): no hosts.
    per_workload = {p.name for p in written if p.parent.name == WORKLOAD_DIR}
    assert per_workload and all(name.startswith("speedup_") for name in per_workload)
    overview = {p.name for p in written if p.parent == figures}
    assert overview == {f"{s}.{f}" for s in ALWAYS_WRITTEN for f in FORMATS}
    assert not (figures / "hosts.png").exists()


def cell_files(tmp_path: Path) -> list[Path]:
    root = write_cells(tmp_path / "one", [on_host(r, "alpha") for r in ALPHA])
    return sorted(root.glob("**/*.json"))


def test_deck_sets_the_hosts_side_by_side(two_host_report):
    _, deck = two_host_report
    found = headings(deck)
    assert "Hosts side by side" in found
    assert "Hosts: the fastest strategy of each group" in found
    assert '<use href="#fig-hosts"/>' in deck
    assert "Hosts: alpha, beta" in deck
    # One group table per host, each titled with its host.
    assert "decode · 8x8 · disk, cold cache · 10 images · on alpha" in found
    assert "decode · 8x8 · disk, cold cache · 10 images · on beta" in found
    table = deck.split("<h2>Hosts: the fastest strategy of each group</h2>")[1]
    table = table.split("</section>")[0]
    assert '<th colspan="2">alpha</th><th colspan="2">beta</th>' in table
    assert "<td>threads ×2</td>" in table and "<td>the serial loop</td>" in table
    assert "<td>no</td>" in table  # the hosts' fastest strategies differ
    # The CPU-model warning on the machine slide, and the hosts that took part.
    machine = deck.split("<h2>Machine and software</h2>")[1].split("</section>")[0]
    assert 'class="warn"' in machine and "2 CPU models" in machine
    assert "Alpha CPU, 2 usable cores, 2 cells" in table


def test_single_host_deck_has_no_hosts_slides(tmp_path):
    _, deck = report(tmp_path, [str(p) for p in cell_files(tmp_path)])
    found = headings(deck)
    assert not [h for h in found if h.startswith("Hosts")]
    assert "Missing cells" not in found
    assert "Host: alpha · 2 cells" in deck
    assert "on alpha" not in deck


def test_a_table_without_hosts_beside_several_is_an_error(two_host_report, tmp_path):
    out, _ = two_host_report
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in out.glob("*.*"):
        (broken / path.name).write_bytes(path.read_bytes())
    amdahl = pd.read_csv(broken / "amdahl.csv").drop(columns="host")
    amdahl.to_csv(broken / "amdahl.csv", index=False)
    with pytest.raises(ImgbenchError, match=r"amdahl\.csv: column host missing, but other tables"):
        render_deck(broken, tmp_path / "slides.html")
