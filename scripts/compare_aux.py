"""With and without auxiliary tasks (issue 12): the RL evaluation twice, same seeds, data and budget.

    python scripts/compare_aux.py [--plain configs/ppo_bc.json] [--aux configs/ppo_bc_aux.json]
                                  [--seeds 0 1 2] [--out bench_output/compare_aux] [--reuse] [eval_rl flags ...]

For every seed, ``scripts/eval_rl.py``'s ``main`` runs once with the plain config and once with the
config whose ``aux_weights`` are positive, into ``OUT/plain_seed{s}`` and ``OUT/aux_seed{s}``; every other
flag (``--quick``, ``--budget-minutes``, ``--train``, ``--held-out``, ``--bc-epochs``, ``--ppo-timesteps``,
``--threads``) goes to both runs unchanged. The two configs must differ only in ``aux_weights`` (and
their ``save_dir`` and ``tb_log_name``), so that the comparison isolates the auxiliary tasks. Each run generates the same synthetic pairs from its seed,
pretrains BC and trains BC + PPO within the same wall-clock budget (the auxiliary heads' extra cost
comes out of it; pass ``--ppo-timesteps`` to compare at the same number of PPO steps instead).

The held-out common reward (BC alone, BC + PPO) and BC's held-out accuracy per head are printed side by
side as a Markdown table and written to ``OUT/compare_aux.md`` and ``OUT/compare_aux.json``.
``--quick`` (eval_rl's 2-minute smoke mode, per run) only checks that everything works.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OWN_FLAGS = ("--config", "--seed", "--out")
MAY_DIFFER = ("aux_weights", "save_dir", "tb_log_name")
"""The config fields the two recipes may differ in; any other difference is refused."""

FIGURES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("held-out common reward: BC + PPO", "{:.4f}", ("eval", "bc_ppo", "common_reward")),
    ("held-out common reward: BC alone", "{:.4f}", ("eval", "bc", "common_reward")),
    ("BC held-out accuracy: type", "{:.3f}", ("bc", "val_accuracy", "type")),
    ("BC held-out accuracy: size", "{:.3f}", ("bc", "val_accuracy", "size")),
    ("BC held-out accuracy: amount", "{:.3f}", ("bc", "val_accuracy", "amount")),
    ("BC held-out accuracy: whole action", "{:.3f}", ("bc", "val_accuracy", "action")),
    ("BC + PPO output ratio", "{:.3f}", ("eval", "bc_ppo", "output_ratio")),
    ("PPO steps done", "{:.0f}", ("ppo", "timesteps_done")),
    ("PPO seconds per iteration (calibration)", "{:.2f}", ("ppo", "seconds_per_iteration")),
)
"""(row label, number format, path into eval_rl.json) of each figure compared."""


def load_eval_rl():
    """``scripts/eval_rl.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("eval_rl", REPO / "scripts" / "eval_rl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plain", type=Path, default=REPO / "configs" / "ppo_bc.json", help="config without aux tasks")
    p.add_argument("--aux", type=Path, default=REPO / "configs" / "ppo_bc_aux.json", help="config with aux tasks")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds; each runs both configs (0)")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="skip a run whose OUT/<plain|aux>_seed<s>/eval_rl.json was made with the same flags and config",
    )
    p.add_argument("--out", type=Path, default=None, help="bench_output/compare_aux (_quick with --quick)")
    p.add_argument(
        "--allow-other-differences",
        action="store_true",
        help="run even when the configs differ in more than aux_weights",
    )
    args, rest = p.parse_known_args(argv)
    clash = [flag for flag in rest if flag.split("=")[0] in OWN_FLAGS]
    if clash:
        p.error(f"{clash} are set per run by compare_aux.py (use --plain/--aux, --seeds, --out)")
    if args.out is None:
        args.out = Path("bench_output") / ("compare_aux_quick" if "--quick" in rest else "compare_aux")
    return args, rest


def recipe_differences(plain: Path, aux: Path) -> dict[str, tuple]:
    """``{field: (plain value, aux value)}`` of the fields the two JSON configs differ in, besides :data:`MAY_DIFFER`."""
    a, b = (json.loads(Path(path).read_text()) for path in (plain, aux))
    fields = sorted((set(a) | set(b)) - set(MAY_DIFFER))
    return {f: (a.get(f, "(default)"), b.get(f, "(default)")) for f in fields if a.get(f) != b.get(f)}


def same_run(eval_rl, run_argv: list[str], report_path: Path) -> bool:
    """Whether ``report_path`` exists and was written by eval_rl with these flags and config (its folder aside:
    a run may be copied in from elsewhere)."""
    if not report_path.is_file():
        return False
    wanted = eval_rl.parse_args(run_argv)
    wanted = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(wanted).items()}
    done = json.loads(report_path.read_text())
    config = json.loads(Path(wanted["config"]).read_text())
    same_config = all(done["config"].get(k) == v for k, v in config.items() if k != "save_dir")
    same_args = {k: v for k, v in json.loads(json.dumps(wanted)).items() if k != "out"} == {
        k: v for k, v in done["args"].items() if k != "out"
    }
    return same_config and same_args


def lookup(report: dict, path: tuple[str, ...]) -> float:
    value = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float("nan") if value is None else float(value)


def cell(fmt: str, values: list[float]) -> str:
    """The mean, and each value in brackets when there are several."""
    text = fmt.format(float(np.mean(values)))
    return text + (" (" + ", ".join(fmt.format(v) for v in values) + ")" if len(values) > 1 else "")


def table(reports: dict[str, dict[int, dict]], seeds: list[int], title: str) -> str:
    """Markdown: one row per figure (mean over seeds, and each seed when there are several)."""
    lines = [title, "", "| figure | without aux | with aux | difference |", "|---|---|---|---|"]
    for label, fmt, path in FIGURES:
        plain = [lookup(reports["plain"][s], path) for s in seeds]
        aux = [lookup(reports["aux"][s], path) for s in seeds]
        difference = fmt.replace("{:", "{:+").format(float(np.mean(aux)) - float(np.mean(plain)))
        lines.append(f"| {label} | {cell(fmt, plain)} | {cell(fmt, aux)} | {difference} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args, rest = parse_args(argv)
    differences = recipe_differences(args.plain, args.aux)
    if differences and not args.allow_other_differences:
        print(
            f"compare_aux: {args.plain} and {args.aux} differ in more than {list(MAY_DIFFER)}: {differences}; "
            "the comparison would not isolate the auxiliary tasks (pass --allow-other-differences to run anyway).",
            file=sys.stderr,
        )
        return 2
    eval_rl = load_eval_rl()
    configs = {"plain": args.plain, "aux": args.aux}
    reports: dict[str, dict[int, dict]] = {"plain": {}, "aux": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for label, config in configs.items():
            out = args.out / f"{label}_seed{seed}"
            print(f"\n#### compare_aux: {label} ({config}), seed {seed} -> {out}", flush=True)
            run_argv = [*rest, "--config", str(config), "--seed", str(seed), "--out", str(out)]
            if args.reuse and same_run(eval_rl, run_argv, out / "eval_rl.json"):
                print(f"   reusing {out / 'eval_rl.json'} (made with the same flags)", flush=True)
                reports[label][seed] = json.loads((out / "eval_rl.json").read_text())
                continue
            code = eval_rl.main(run_argv)
            if code:
                print(f"compare_aux: eval_rl failed ({code}) for {label}, seed {seed}", file=sys.stderr)
                return code
            reports[label][seed] = json.loads((out / "eval_rl.json").read_text())

    first = reports["plain"][args.seeds[0]]
    weights = {label: reports[label][args.seeds[0]]["config"].get("aux_weights") for label in configs}
    run = first["args"]
    title = (
        f"## Auxiliary tasks: eval_rl with and without, {run['train']} training / {run['held_out']} held-out "
        f"synthetic pairs, seed(s) {', '.join(map(str, args.seeds))}, CPU budget {run['budget_minutes']:g} min a run\n\n"
        f"aux_weights without: `{json.dumps(weights['plain'])}`; with: `{json.dumps(weights['aux'])}`"
    )
    text = table(reports, args.seeds, title)
    print("\n" + text)
    (args.out / "compare_aux.md").write_text(text + "\n")
    summary = {
        "configs": {k: str(v) for k, v in configs.items()},
        "seeds": args.seeds,
        "eval_rl_flags": rest,
        "aux_weights": weights,
        "figures": {
            label: {name: {s: lookup(reports[name][s], path) for s in args.seeds} for name in configs}
            for label, _, path in FIGURES
        },
    }
    (args.out / "compare_aux.json").write_text(json.dumps(summary, indent=2))
    print(f"\nWrote {args.out / 'compare_aux.md'} and {args.out / 'compare_aux.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
