"""Migration retention: MiniLM-L6 ↔ mpnet-base through stitches, beside isotrieve's mappings.

For each dataset, each direction (old → new: the index was built with OLD, NEW is wanted),
each migration mode (corpus: stored OLD vectors translated into NEW's space, queried by NEW;
query: NEW's queries translated into the OLD index) and each calibration size, every stitch
kind is fitted on the same calibration documents (``stitchbench.migrate``, nested seeded
sizes) and scored by nDCG@10 retention on held-out queries (÷ native nDCG@10 of the space
searched), with a 95% paired bootstrap interval over queries. The same calibration pairs go
to isotrieve's ``RidgeMapping`` and ``LowRankAffineMapping`` (its PyPI package, 0.4.0, in its
OWN virtualenv, driven by a subprocess: its pins never touch stitchbench's), and the vectors
it returns are scored by the same code. ★ marks the kind ``migrate plan`` finds best at
each calibration size (``MigrationPlan.best_at``); ``--seeds 0,1,2`` repeats everything per
seed (splits, calibration order, bootstrap) and adds a table of means and ranges;
``--figure`` draws every cell, isotrieve's mappings beside stitchbench's kinds. With
``--out``, each cell's records are saved as it finishes (``.partial.json``); ``--resume``
reuses them after an interruption and measures only the cells still missing. ``--params``
sets kinds' hyperparameters as ``migrate plan --params`` does (e.g. ``semi``'s transport
pseudo-targets); records carry them, and a resumed run never mixes in other ones, nor
drops records of kinds or sizes it would not measure again (refused, exit 2).

Embeddings come from the shared store (mpnet-base encodes ~36 texts/s on 2 free cores: warm
the store first, e.g. by running this once per dataset); only the test queries are embedded.

Usage:
    python benchmarks/bench_migration.py --datasets bible --max-docs 3000
    python benchmarks/bench_migration.py --datasets bible,bbc-news --kinds affine,linear \\
        --out docs/notes/bench_migration.md
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from stitchbench.errors import StitchbenchError
from stitchbench.migrate import PairData, load_pair, plan_migration, score_stitch
from stitchbench.migrate.calibration import calibration_sizes, stitch_direction
from stitchbench.migrate.plan import check_plan_args
from stitchbench.stitches import STITCH_KINDS, make_stitch
from stitchbench.stitches.base import Stitch

ISOVENV = Path("/tmp/isovenv")
ISOTRIEVE = "isotrieve==0.4.0"
ISO_KINDS = ("iso-ridge", "iso-lowrank")
# What names one cell of the benchmark (a dataset, model pair and mode for one seed).
CELL = ("seed", "dataset", "max_docs", "old", "new", "mode")

_DRIVER = r"""
import sys, numpy as np
from isotrieve.mapping.linear import RidgeMapping, LowRankAffineMapping
d = np.load(sys.argv[1])
out = {}
for name, m in (("iso-ridge", RidgeMapping()), ("iso-lowrank", LowRankAffineMapping())):
    m.fit(d["X"], d["Y"])
    out[name] = m.transform(d["V"]).astype(np.float32)
np.savez(sys.argv[2], **out)
"""


def ensure_isotrieve() -> Path:
    """The isotrieve virtualenv's python (created and installed on first use)."""
    py = ISOVENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(ISOVENV)], check=True)
    ok = subprocess.run([str(py), "-c", "import isotrieve"], capture_output=True, check=False)
    if ok.returncode != 0:
        subprocess.run([str(py), "-m", "pip", "install", "-q", ISOTRIEVE], check=True)
    return py


class LookupStitch(Stitch):
    """Vectors another tool translated, served as a stitch: row bytes → translated row.

    Only the rows it was built with can be predicted (the benchmark asks for exactly
    those); anything else raises.
    """

    kind: ClassVar[str] = "external"

    def __init__(self, name: str = "external") -> None:
        self.name = name

    def build(self, inputs: np.ndarray, outputs: np.ndarray, n_fit: int) -> LookupStitch:
        self._table = {
            hashlib.blake2b(r.tobytes(), digest_size=16).digest(): o
            for r, o in zip(np.asarray(inputs, np.float32), outputs, strict=True)
        }
        self.d_source_, self.d_target_ = int(inputs.shape[1]), int(outputs.shape[1])
        self.n_fit_, self.fit_fingerprint_ = n_fit, "external"
        return self

    def _predict(self, X: np.ndarray) -> np.ndarray:
        rows = X.astype(np.float32)
        return np.stack(
            [self._table[hashlib.blake2b(r.tobytes(), digest_size=16).digest()] for r in rows]
        )


def isotrieve_points(py: Path, pair: PairData, mode: str, n: int, n_boot: int, seed: int) -> list:
    """isotrieve's ridge and low-rank mappings fitted on the same n calibration pairs."""
    src, tgt = stitch_direction(pair, mode)
    rows = np.sort(pair.calibration_rows[:n])
    X, Y = pair.docs[src].vectors[rows], pair.docs[tgt].vectors[rows]
    V = np.concatenate([pair.docs[src].vectors, pair.queries[src].vectors]).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "in.npz", X=X, Y=Y, V=V)
        (Path(tmp) / "drive.py").write_text(_DRIVER)
        subprocess.run(
            [
                str(py),
                str(Path(tmp) / "drive.py"),
                str(Path(tmp) / "in.npz"),
                str(Path(tmp) / "out.npz"),
            ],
            check=True,
        )
        out = np.load(Path(tmp) / "out.npz")
        translated = {k: out[k] for k in ISO_KINDS}
    points = []
    for k in ISO_KINDS:
        st = LookupStitch(k).build(V, translated[k], n).with_names(src, tgt)
        p = score_stitch(pair, st, n, mode, n_boot=n_boot, seed=seed)
        p.kind = k
        points.append(p)
    return points


def pool_as_one(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The whole-pool point of each run (its size differs by seed) moved to one size, the
    mean pool, so that seeds line up in tables and figures; ``pool`` marks it."""
    run = ("seed", "dataset", "old", "new", "mode")
    largest: dict[tuple, int] = {}
    for r in records:
        key = tuple(r.get(c, 0) for c in run)
        largest[key] = max(largest.get(key, 0), int(r["pairs"]))
    pools = list(largest.values())
    mean_pool = round(sum(pools) / len(pools)) if pools else 0
    out = []
    for r in records:
        is_pool = int(r["pairs"]) == largest[tuple(r.get(c, 0) for c in run)]
        out.append({**r, "pool": is_pool, "pairs": mean_pool if is_pool else r["pairs"]})
    return out


def seed_summary(records: list[dict[str, Any]], seeds: list[int]) -> list[str]:
    """Markdown table: each cell's mean retention over seeds, its range, and for how many
    seeds the kind was the plan's best at that size (★k, ``plan_pick``)."""
    records = pool_as_one(records)
    kinds = list(dict.fromkeys(r["kind"] for r in records))
    cells: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        key = (r["dataset"], f"{r['old']} → {r['new']}", f"{r['mode']} ({r['stitch']})", r["pairs"])
        cells.setdefault(key, {}).setdefault(r["kind"], []).append(r)
    out = [
        f"Mean nDCG@10 retention over seeds {','.join(map(str, seeds))} (min–max of the "
        "seeds' estimates; ★k = `migrate plan`'s best kind at that size for k seeds)",
        "",
        "| dataset | old → new | mode (stitch) | pairs | " + " | ".join(kinds) + " |",
        "|---|---|---|---:|" + "---:|" * len(kinds),
    ]
    for (ds, pair, mode, n), by_kind in cells.items():
        row = []
        for k in kinds:
            rs = by_kind.get(k, [])
            if not rs:
                row.append("—")
                continue
            v = np.array([r["retention"] for r in rs])
            picks = sum(bool(r["plan_pick"]) for r in rs)
            star = f"★{picks}" if picks else ""
            seeds_n = f"{len(v)} seed" + ("s" if len(v) != 1 else "")
            row.append(f"{v.mean():.3f}{star} ({v.min():.3f}–{v.max():.3f}, {seeds_n})")
        pool = any(r["pool"] for rs in by_kind.values() for r in rs)
        label = f"all (≈{n:,})" if pool else str(n)
        out.append(f"| {ds} | {pair} | {mode} | {label} | " + " | ".join(row) + " |")
    return out


def draw(records: list[dict[str, Any]], path: str, target: float) -> Path:
    """Retention against calibration pairs, one panel per (dataset, direction, mode), every
    kind and isotrieve's mappings side by side (mean over seeds, widest interval)."""
    from stitchbench.report.figures import retention_curve_figure

    panels: dict[str, list[dict[str, Any]]] = {}
    for r in pool_as_one(records):
        moved = "documents translated" if r["mode"] == "corpus" else "queries translated"
        name = (
            f"{r['dataset']}: {r['old']} index, {r['new']} wanted\n"
            f"{r['mode']} mode, stitch {r['stitch']} ({moved})"
        )
        panels.setdefault(name, []).append({**r, "n_pairs": r["pairs"]})
    seeds = sorted({r.get("seed", 0) for r in records})
    return retention_curve_figure(
        panels,
        path,
        target=target,
        title=f"Migration retention against calibration pairs; seeds {seeds}",
    )


def measure_cell(
    pair: PairData,
    dataset: str,
    mode: str,
    args: argparse.Namespace,
    sizes: list[int],
    kinds: list[str],
    py: Path | None,
    seed: int,
    max_docs: int,
) -> list[dict[str, Any]]:
    """Plan one (dataset, direction, mode) cell and score isotrieve beside it: one record
    per (kind, calibration size)."""
    src, tgt = stitch_direction(pair, mode)
    plan = plan_migration(
        pair, mode=mode, target=args.target, sizes=sizes, kinds=kinds,
        n_boot=args.n_boot, seed=seed, progress=True, params=args.params,
    )  # fmt: skip
    extra = []
    if py is not None:
        for n in calibration_sizes(pair.n_calibration, sizes):
            extra += isotrieve_points(py, pair, mode, n, args.n_boot, seed)
    records = []
    for p in [*plan.points, *extra]:
        r, a = p.retention, p.agreement
        assert r is not None and p.result is not None  # a labelled dataset
        records.append(
            {
                "seed": seed, "dataset": dataset, "max_docs": max_docs,
                "old": pair.old, "new": pair.new, "mode": mode,
                "stitch": f"{src}→{tgt}", "kind": p.kind, "pairs": p.n_pairs,
                "retention": r.estimate, "ci_low": r.low, "ci_high": r.high,
                "n_queries": r.n, "native": p.result.native_target["ndcg@10"],
                "stitched": p.result.stitched["ndcg@10"],
                "overlap@10": a.overlap.estimate if a else None,
                # iso points compete only in the table
                "plan_pick": p.kind == plan.best_at(p.n_pairs), "n_boot": args.n_boot,
                "params": full_params(p.kind, plan.params),
            }
        )  # fmt: skip
    return records


def table_rows(
    cell: list[dict[str, Any]], columns: list[str], head: str, n_calibration: int
) -> list[str]:
    """One markdown row per calibration size of a cell's records: each column's retention
    [95% interval], ★ where it is the plan's pick, and its overlap@10."""
    rows = []
    for n in sorted({int(r["pairs"]) for r in cell}):
        by_kind = {r["kind"]: r for r in cell if int(r["pairs"]) == n}
        cells = []
        for k in columns:
            r = by_kind.get(k)
            if r is None:
                cells.append("—")
                continue
            star = "★" if r["plan_pick"] else ""
            ov = f" ov {r['overlap@10']:.2f}" if r["overlap@10"] is not None else ""
            cells.append(f"{r['retention']:.3f}{star} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]{ov}")
        label = f"{n} (all)" if n == n_calibration else str(n)
        rows.append(f"{head} {label} | " + " | ".join(cells) + " |")
    return rows


def take_cell(
    resumed: list[dict[str, Any]], key: tuple, wanted: set[tuple[str, int]]
) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """Split an interrupted run's records into one cell's and the rest.

    Args:
        resumed: Records of the ``.partial.json``.
        key: ``(seed, dataset, max_docs, old, new, mode)`` of the cell.
        wanted: ``(kind, pairs)`` this run measures in that cell.

    Returns:
        ``(the cell's records, or None when they are not exactly one record per wanted
        (kind, pairs): the ★ depends on which kinds competed; the other cells' records)``.
        A cell that is not reused is dropped from the rest, so that its new records do not
        sit beside stale ones in the partial file.
    """
    mine = [r for r in resumed if tuple(r[c] for c in CELL) == key]
    rest = [r for r in resumed if tuple(r[c] for c in CELL) != key]
    got = [(r["kind"], int(r["pairs"])) for r in mine]
    return (mine if len(got) == len(wanted) and set(got) == wanted else None), rest


def full_params(kind: str, given: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every hyperparameter ``kind`` is fitted with (the ``given`` ones and the defaults),
    as JSON holds them: a record says what it measured even after a default changes.
    Not a stitch kind (isotrieve's mappings): {}."""
    if kind not in STITCH_KINDS:
        return {}
    return json.loads(json.dumps(make_stitch(kind, **given.get(kind, {})).get_params()))


def resumable(
    part: Path, n_boot: int, params: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The records an interrupted run left in ``part`` (none when it does not exist); a
    run measured with another ``--n-boot`` or other ``--params`` is refused (exit 2)
    rather than mixed in (older records do not say theirs: the defaults of their day are
    assumed, semi's mutual neighbours included)."""
    if not part.is_file():
        return []
    try:
        records = json.loads(part.read_text())
    except json.JSONDecodeError as e:
        print(f"--resume: {part} is not JSON ({e}); delete it to start over.", file=sys.stderr)
        sys.exit(2)
    other = {r.get("n_boot") for r in records} - {n_boot, None}  # None: written before 12-07
    if other:
        print(
            f"--resume: {part} was measured with --n-boot {sorted(map(str, other))}, not "
            f"{n_boot}; rerun with that --n-boot or delete it to start over.",
            file=sys.stderr,
        )
        sys.exit(2)
    # A hyperparameter added after a record was written is at the value that keeps the
    # behaviour of the record's day: its default where that keeps it (semi's
    # relative_temperature), else this table (semi's pair_correction, on since 2026-12-07).
    added = {"semi": {"pair_correction": False}}
    # Records written before 2026-12-07 say no params: the defaults then, which are still
    # the defaults of every kind but semi (mutual neighbours then, "auto" now; no pairs'
    # correction then).
    then = {"semi": {"pseudo": "mutual", **added["semi"]}}

    def measured_with(r: dict[str, Any]) -> dict[str, Any]:
        if "params" not in r:
            return full_params(r["kind"], then)
        return {**full_params(r["kind"], added), **r["params"]}

    odd = sorted(
        {r["kind"] for r in records if measured_with(r) != full_params(r["kind"], params or {})}
    )
    if odd:
        print(
            f"--resume: {part} measured {', '.join(odd)} with other --params than "
            f"{json.dumps(params or {})}; rerun with those --params or delete it to start over.",
            file=sys.stderr,
        )
        sys.exit(2)
    return records


def dropped_on_resume(
    records: list[dict[str, Any]],
    columns: list[str],
    sizes: list[int],
    cells: set[tuple] | None = None,
) -> list[str]:
    """What an interrupted run holds that this one would not measure again: a resumed cell
    whose records differ from this run's is measured afresh and its old records leave the
    file, so these would be lost (cells this run does not visit stay as they are).

    Args:
        records: The ``.partial.json``'s records.
        columns: The kinds this run measures (isotrieve's mappings included).
        sizes: ``--sizes``; a cell measures those below its pool, and the pool (its
            largest record: every finished cell has one).
        cells: ``CELL`` keys this run visits (None: every cell in ``records``).

    Returns:
        One phrase per kind or size that would be dropped (empty: nothing would be).
    """
    mine: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        key = tuple(r[c] for c in CELL)
        if cells is None or key in cells:
            mine.setdefault(key, []).append(r)
    kinds: set[str] = set()
    odd: set[int] = set()
    for cell in mine.values():
        kinds |= {r["kind"] for r in cell if r["kind"] not in columns}
        here = calibration_sizes(max(int(r["pairs"]) for r in cell), sizes)
        odd |= {int(r["pairs"]) for r in cell if int(r["pairs"]) not in here}
    return [f"kind {k}" for k in sorted(kinds)] + [f"{n} pairs" for n in sorted(odd)]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--datasets", default="bible", help="Comma-separated: bible, bbc-news.")
    ap.add_argument("--max-docs", default="3000", help="Per dataset, comma-separated (0 = all).")
    ap.add_argument("--old", default="minilm-l6")
    ap.add_argument("--new", default="mpnet-base")
    ap.add_argument("--sizes", default="500,1000,2000,4000")
    ap.add_argument("--kinds", default="affine,linear,procrustes,lowrank,mlp")
    ap.add_argument("--modes", default="corpus,query")
    ap.add_argument("--directions", default="forward,reverse")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0, help="One seed (see --seeds).")
    ap.add_argument(
        "--seeds",
        default=None,
        help="Comma-separated seeds (splits, calibration order, bootstrap); with more than "
        "one, a last table gives each cell's mean and range over seeds.",
    )
    ap.add_argument(
        "--params",
        default="{}",
        help="Hyperparameters per kind as JSON, as for `migrate plan --params`, e.g. "
        '\'{"semi": {"pseudo": "transport"}}\'.',
    )
    ap.add_argument("--no-isotrieve", action="store_true")
    ap.add_argument("--out", default=None, help="Write the markdown table (and a .json) here.")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="Reuse the cells an interrupted run with the same --out left in its "
        ".partial.json (same arguments) and measure only the rest.",
    )
    ap.add_argument(
        "--figure", default=None, help="Draw retention against pairs per cell to this PNG."
    )
    ap.add_argument(
        "--replot",
        default=None,
        help="Only redraw --figure and the seed table from .json (or .partial.json) files "
        "this benchmark wrote, comma-separated (e.g. one per seed); measures nothing.",
    )
    args = ap.parse_args()
    if args.resume and not args.out:
        ap.error("--resume needs --out (the run whose .partial.json is resumed)")
    for flag, path in (("--out", args.out), ("--figure", args.figure)):
        # Checked now: a missing folder was found only when the first cell was saved.
        if path and not Path(path).resolve().parent.is_dir():
            ap.error(f"{flag} {path}: folder {Path(path).parent} does not exist; create it first")
    if args.replot:
        records = [r for f in args.replot.split(",") for r in json.loads(Path(f).read_text())]
        seeds_seen = sorted({r.get("seed", 0) for r in records})
        print("\n".join(seed_summary(records, seeds_seen)))
        if args.figure:
            print(draw(records, args.figure, args.target))
        return

    datasets = args.datasets.split(",")
    max_docs = [int(x) for x in args.max_docs.split(",")]
    max_docs += [max_docs[-1]] * (len(datasets) - len(max_docs))
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    try:  # checked like the CLI's, before anything is embedded
        args.params = check_plan_args("corpus", args.target, kinds, None, json.loads(args.params))
    except json.JSONDecodeError as e:
        print(f"--params is not valid JSON ({e}): {args.params}", file=sys.stderr)
        sys.exit(2)
    except StitchbenchError as e:  # names the flag and the kind or parameter
        print(e, file=sys.stderr)
        sys.exit(2)
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    # A bad --resume file is refused before isotrieve's virtualenv is built.
    part = Path(args.out).with_suffix(".partial.json") if args.out else None
    resumed = resumable(part, args.n_boot, args.params) if args.resume and part is not None else []
    visited = {
        (seed, ds, nd, *((args.old, args.new) if d == "forward" else (args.new, args.old)), m)
        for seed in seeds
        for ds, nd in zip(datasets, max_docs, strict=True)
        for d in args.directions.split(",")
        for m in args.modes.split(",")
    }
    columns = kinds + ([] if args.no_isotrieve else [*ISO_KINDS])
    lost = dropped_on_resume(resumed, columns, sizes, visited)
    if lost:
        print(
            f"--resume: {part} holds {', '.join(lost)}, which this run (--kinds {args.kinds}, "
            f"--sizes {args.sizes}{', --no-isotrieve' if args.no_isotrieve else ''}) would "
            "drop without measuring again; rerun with its kinds and sizes or move it aside.",
            file=sys.stderr,
        )
        sys.exit(2)
    py = None if args.no_isotrieve else ensure_isotrieve()
    records: list[dict[str, Any]] = []
    lines = [
        "nDCG@10 retention (÷ native nDCG@10 of the space searched), 95% paired bootstrap "
        "interval over held-out queries; ov = the label-free overlap@10 with native NEW's "
        "top-10 on the same queries; ★ = the kind `migrate plan` finds best at that many "
        "pairs (`MigrationPlan.best_at`)"
        + (f"; hyperparameters: {json.dumps(args.params)}" if args.params else ""),
        "",
        "| dataset | old → new | mode (stitch) | pairs | "
        + " | ".join(kinds + ([*ISO_KINDS] if py else []))
        + " |",
        "|---|---|---|---:|" + "---:|" * (len(kinds) + (len(ISO_KINDS) if py else 0)),
    ]
    t0 = time.time()
    for seed, ds, direction in itertools.product(seeds, datasets, args.directions.split(",")):
        nd = max_docs[datasets.index(ds)]
        old, new = (args.old, args.new) if direction == "forward" else (args.new, args.old)
        pair = load_pair(ds, old, new, max_docs=nd or None, seed=seed, progress=True)
        for mode in args.modes.split(","):
            src, tgt = stitch_direction(pair, mode)
            here = calibration_sizes(pair.n_calibration, sizes)
            wanted = {(k, n) for k in columns for n in here}
            reused, resumed = take_cell(resumed, (seed, ds, nd, old, new, mode), wanted)
            if reused is not None:
                cell = reused
                print(f"resumed from {part}: {ds} {old} → {new}, {mode} mode, seed {seed}")
            else:
                cell = measure_cell(pair, ds, mode, args, sizes, kinds, py, seed, nd)
            records += cell
            head = (
                f"| {ds} ({len(pair.doc_ids)} docs, {len(pair.test_query_ids)} q, seed {seed}) "
                f"| {old} → {new} | {mode} ({src}→{tgt}) |"
            )
            rows = table_rows(cell, columns, head, pair.n_calibration)
            lines += rows
            print("\n".join(rows), flush=True)
            if part is not None:  # what is measured so far survives an interruption
                # (the resumed cells not reached yet stay in the file)
                part.with_suffix(".tmp").write_text(json.dumps(records + resumed, indent=1))
                part.with_suffix(".tmp").replace(part)
    if len(seeds) > 1:
        lines += ["", *seed_summary(records, seeds)]
    if args.figure:
        lines += ["", f"figure: {draw(records, args.figure, args.target)}"]
    lines.append("")
    lines.append(f"wall time {time.time() - t0:.0f} s; command: python {' '.join(sys.argv)}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
