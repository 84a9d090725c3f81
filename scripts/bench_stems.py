"""Benchmark: stem separation speed in x real time (seconds of audio per second of compute).

Rows:

- the fallback (HPSS + bands) on the mono 22050 Hz analysis signal, as
  ``scripts/precache_stems.py`` runs it, and on 44.1 kHz stereo, as ``editor_env.stems.separate``
  runs it on an original recording;
- Demucs from the weights in ``--repo`` / ``MUSICEDIT_DEMUCS_REPO`` on CUDA (and on CPU with
  ``--demucs-cpu``): "n/a here" when there is no GPU or no weights. Nothing is downloaded.
- with ``--demucs-arch``, Demucs' default HTDemucs architecture with untrained weights: the
  speed of the network (the weights do not change it), not a separation.

Audio is a generated jam (``editor_env.synth``), ``--seconds`` long (default 60).

    python scripts/bench_stems.py [--seconds 60] [--repo DIR] [--demucs-cpu] [--demucs-arch]

Prints a Markdown table; the README's performance table quotes it.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the precache figures


def _time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test audio (default 60)")
    parser.add_argument("--repo", default=None, help="Demucs weights folder (default $MUSICEDIT_DEMUCS_REPO)")
    parser.add_argument("--model", default="htdemucs")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs (default 2)")
    parser.add_argument("--demucs-cpu", action="store_true", help="also time Demucs on the CPU (slow)")
    parser.add_argument("--demucs-arch", action="store_true", help="time the untrained default HTDemucs network")
    args = parser.parse_args()

    import torch as th

    from editor_env.audio import Audio, analysis_signal, resample
    from editor_env.stems import DemucsSeparator, FallbackSeparator, load_separator, resolve_repo
    from editor_env.synth import generate_pair

    raw = generate_pair(3, duration_range_s=(args.seconds, args.seconds)).raw
    mono = Audio(analysis_signal(raw)[None], 22050)
    mono = Audio(mono.samples[:, : int(args.seconds * 22050)], 22050)
    stereo = Audio(resample(mono.samples, 22050, 44100).repeat(2, axis=0) * [[1.0], [0.8]], 44100)
    seconds = mono.duration
    rows: list[tuple[str, str, str, str]] = []

    fallback = FallbackSeparator()
    fallback.separate(Audio(mono.samples[:, :22050], 22050))  # imports and FFT plans
    for label, audio in (("22050 Hz mono (precache)", mono), ("44.1 kHz stereo (original)", stereo)):
        dt = _time(lambda audio=audio: fallback.separate(audio), args.repeats)
        rows.append((f"fallback:hpss-bands, {label}", "CPU, 1 thread", f"{dt:.2f}", f"{seconds / dt:.0f}x"))

    cuda = th.cuda.is_available()
    repo = resolve_repo(args.repo)
    devices = (["cuda"] if cuda else []) + (["cpu"] if args.demucs_cpu else [])
    if repo is None:
        rows.append((f"demucs:{args.model}", "GPU" if cuda else "no GPU", "n/a here", "n/a here (no weights)"))
    else:
        for device in devices or ["cuda"]:
            if device == "cuda" and not cuda:
                rows.append((f"demucs:{args.model}", "no GPU", "n/a here", "n/a here (no GPU)"))
                continue
            sep = load_separator(method="demucs", repo=repo, model_name=args.model, device=device)
            sep.separate(Audio(stereo.samples[:, :44100], 44100))
            dt = _time(lambda sep=sep: sep.separate(stereo), args.repeats)
            rows.append((f"{sep.source}, 44.1 kHz stereo", device, f"{dt:.2f}", f"{seconds / dt:.1f}x"))
    if args.demucs_arch:
        from demucs.htdemucs import HTDemucs

        th.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        model = HTDemucs(["drums", "bass", "other", "vocals"], segment=7.8).eval()
        for device in ["cuda"] if cuda else ["cpu"]:
            sep = DemucsSeparator(model, "htdemucs-arch-untrained", device=device)
            sep.separate(Audio(stereo.samples[:, :44100], 44100))
            dt = _time(lambda sep=sep: sep.separate(stereo), 1)
            rows.append(
                ("HTDemucs default network, untrained (speed only)", device, f"{dt:.2f}", f"{seconds / dt:.1f}x")
            )

    print(f"{seconds:.0f} s of generated audio; torch {th.__version__}, CUDA {'yes' if cuda else 'no'}\n")
    print("| separator | device | s | x real time |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
