"""Fuzzed inputs (issue 34): damaged audio files through ``musicedit edit`` and ``musicedit precache``.

    python scripts/fuzz_inputs.py [--n 220] [--seed 0] [--out bench_output/fuzz] [--timeout 180]
                                  [--policy NAME] [--quick] [--in-process]

Makes ``--n`` damaged audio files from a few good ones (a generated 20-24 s jam written as 16-bit WAV,
float WAV, 24-bit FLAC and Ogg Vorbis), spread evenly over the damage kinds of :data:`DAMAGES`, each with
its own random parameters (which bytes, which offset, which rate ...). Every file goes through

- ``musicedit edit FILE -o OUT.wav`` (the shipped default editor unless ``--policy``), and
- ``musicedit precache`` of a data set holding only that file (as ``input/{name}_raw{suffix}``),

each in its own process under a time limit, and each outcome is one of

``result``        exit 0 and a correct result: the edit's audio reads back (frames > 0, finite samples) with its
                  EDL JSON; the cache's mel and beats files load with finite values;
``clear error``   a non-zero exit with exactly one error line (``musicedit X: error: ...`` or
                  ``FAILED sample: ...``) that names the file, and no traceback;
``traceback``     a Python traceback on stderr;
``hang``          still running at ``--timeout`` (killed);
``crash``         the interpreter died (a signal such as SIGSEGV, or an exit status other than 0, 1, 2);
``unclear``       anything else: an error that does not name the file or spans several lines, a 0 exit
                  without a usable result.

Input files are hashed (SHA-256) before and after; a changed input is counted apart. The damaged files,
every command's output and ``fuzz_results.json`` / ``fuzz_table.md`` stay in ``--out`` to reproduce a case.
``--in-process`` runs the commands inside this process (:func:`editor_env.cli.main`: fast, for the test
suite; a crash or hang is not caught that way).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOUR_S = 3600.0
OUTCOMES = ("result", "clear error", "traceback", "hang", "crash", "unclear")
COMMANDS = ("edit", "precache")


# ---------------------------------------------------------------------------------------------
# Good sources
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Source:
    """A good audio file the damage starts from.

    :param path: the file.
    :param fmt: ``"wav"``, ``"flac"`` or ``"ogg"``.
    :param subtype: soundfile subtype (``PCM_16``, ``FLOAT``, ``PCM_24``, ``VORBIS``).
    :param sample_rate: Hz. :param channels: channel count.
    """

    path: Path
    fmt: str
    subtype: str
    sample_rate: int
    channels: int

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def make_sources(folder: Path, seed: int = 0, duration_range_s: tuple[float, float] = (20.0, 24.0)) -> list[Source]:
    """Write the good files: one generated jam as 16-bit mono WAV (22.05 kHz), float stereo WAV (44.1 kHz),
    24-bit stereo FLAC (48 kHz) and mono Ogg Vorbis (32 kHz)."""
    import soundfile as sf

    from editor_env.audio import resample
    from editor_env.synth import generate_pair

    folder.mkdir(parents=True, exist_ok=True)
    raw = generate_pair(seed, duration_range_s=duration_range_s, n_channels=2).raw
    specs = [
        ("src_pcm16_mono_22k.wav", "wav", "PCM_16", 22050, 1),
        ("src_float_stereo_44k.wav", "wav", "FLOAT", 44100, 2),
        ("src_pcm24_stereo_48k.flac", "flac", "PCM_24", 48000, 2),
        ("src_vorbis_mono_32k.ogg", "ogg", "VORBIS", 32000, 1),
    ]
    sources = []
    for name, fmt, subtype, rate, channels in specs:
        y = resample(raw.samples, raw.sample_rate, rate)
        y = y.mean(axis=0, keepdims=True) if channels == 1 else y
        path = folder / name
        if not path.is_file():
            sf.write(path, np.clip(y.T, -1, 1), rate, subtype=subtype, format=fmt.upper())
        sources.append(Source(path, fmt, subtype, rate, channels))
    return sources


# ---------------------------------------------------------------------------------------------
# Damage
# ---------------------------------------------------------------------------------------------
def riff_chunks(data: bytes) -> dict[str, tuple[int, int]]:
    """``{chunk id: (offset of its size field, size)}`` of a RIFF/WAVE file's top-level chunks (first of each)."""
    chunks: dict[str, tuple[int, int]] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4].decode("latin-1")
        size = struct.unpack_from("<I", data, pos + 4)[0]
        chunks.setdefault(cid, (pos + 4, size))
        pos += 8 + size + (size & 1)
    return chunks


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "FLOAT") -> bytes:
    """``samples`` ``(n,)`` or ``(n, channels)`` as WAV bytes (no clipping: NaN and huge values kept)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def _pick(rng: np.random.Generator, sources: list[Source], fmts: tuple[str, ...] = ("wav", "flac", "ogg")) -> Source:
    choices = [s for s in sources if s.fmt in fmts]
    return choices[int(rng.integers(len(choices)))]


def _suffix(src: Source) -> str:
    return "." + src.fmt


def header_flip(rng, sources):
    """1-6 random bytes of the header (WAV: the first 44; FLAC / Ogg: the first 128) XORed with random values."""
    src = _pick(rng, sources)
    data = bytearray(src.data)
    span = 44 if src.fmt == "wav" else 128
    where = sorted(int(i) for i in rng.choice(span, size=int(rng.integers(1, 7)), replace=False))
    for i in where:
        data[i] ^= int(rng.integers(1, 256))
    return bytes(data), _suffix(src), f"{src.path.name}: bytes {where} flipped"


def body_flip(rng, sources):
    """Bit rot: 1-64 random bytes anywhere in the file XORed with random values."""
    src = _pick(rng, sources)
    data = bytearray(src.data)
    where = rng.choice(len(data), size=int(rng.integers(1, 65)), replace=False)
    for i in where:
        data[int(i)] ^= int(rng.integers(1, 256))
    return bytes(data), _suffix(src), f"{src.path.name}: {len(where)} bytes flipped anywhere"


def truncated(rng, sources):
    """Cut at a random offset: half of them inside the first 200 bytes (the header), half anywhere."""
    src = _pick(rng, sources)
    data = src.data
    cut = int(rng.integers(1, 200)) if rng.random() < 0.5 else int(rng.integers(1, len(data)))
    return data[:cut], _suffix(src), f"{src.path.name}: truncated at byte {cut} of {len(data)}"


def wrong_extension(rng, sources):
    """A file under another audio suffix than its format (or not audio at all under an audio suffix)."""
    variant = int(rng.integers(6))
    if variant < 3:
        src = _pick(rng, sources)
        other = [s for s in (".wav", ".flac", ".ogg") if s != _suffix(src)]
        suffix = other[int(rng.integers(len(other)))]
        return src.data, suffix, f"{src.path.name} named {suffix}"
    if variant == 3:
        text = "This is not audio, it is a note about the rehearsal.\n" * int(rng.integers(1, 400))
        return text.encode(), (".wav", ".flac", ".ogg")[int(rng.integers(3))], "a text file under an audio suffix"
    if variant == 4:
        png = b"\x89PNG\r\n\x1a\n" + rng.integers(0, 256, int(rng.integers(10, 5000)), dtype=np.uint8).tobytes()
        return png, ".wav", "PNG-like bytes named .wav"
    return json.dumps({"not": "audio"}).encode(), ".flac", "a JSON file named .flac"


def zero_data(rng, sources):
    """A data chunk of length 0: WAV whose ``data`` size field is 0 (with or without the samples still after
    it), a WAV cut right after its header, or a FLAC whose STREAMINFO says 0 samples and that holds no frames."""
    variant = int(rng.integers(4))
    wav = [s for s in sources if s.fmt == "wav"][int(rng.integers(2))]
    data = bytearray(wav.data)
    size_at, size = riff_chunks(bytes(data))["data"]
    if variant == 0:
        struct.pack_into("<I", data, size_at, 0)
        return bytes(data), ".wav", f"{wav.path.name}: data size 0, samples still after it"
    if variant == 1:
        struct.pack_into("<I", data, size_at, 0)
        struct.pack_into("<I", data, 4, size_at + 4 - 8)
        return bytes(data[: size_at + 4]), ".wav", f"{wav.path.name}: header only, data size 0"
    if variant == 2:
        return bytes(data[: size_at + 4]), ".wav", f"{wav.path.name}: header only, data size still {size}"
    flac = next(s for s in sources if s.fmt == "flac")
    head = bytearray(flac.data[: 8 + 34])
    head[4] |= 0x80  # STREAMINFO is the last metadata block
    _set_flac_field(head, "total", 0)
    return bytes(head), ".flac", f"{flac.path.name}: STREAMINFO only, 0 samples"


def _set_flac_field(data: bytearray, field: str, value: int) -> None:
    """Set ``rate`` (20 bits), ``channels`` (3 bits, channels - 1) or ``total`` (36 bits) in a FLAC STREAMINFO."""
    word = int.from_bytes(data[18:26], "big")  # rate(20) | channels-1(3) | bps-1(5) | total(36)
    shift, bits = {"rate": (44, 20), "channels": (41, 3), "total": (0, 36)}[field]
    mask = ((1 << bits) - 1) << shift
    word = (word & ~mask) | ((value << shift) & mask)
    data[18:26] = word.to_bytes(8, "big")


ABSURD_RATES = (0, 1, 7, 100, 4000, 7999, 192001, 384000, 1_000_000, 2**31 - 1, 2**32 - 1)


def absurd_rate(rng, sources):
    """A sample rate field far outside 8-192 kHz (0, 1 Hz ... 4 GHz), with or without a matching byte rate."""
    rate = int(ABSURD_RATES[int(rng.integers(len(ABSURD_RATES)))])
    if rng.random() < 0.25:
        flac = next(s for s in sources if s.fmt == "flac")
        data = bytearray(flac.data)
        value = min(rate, (1 << 20) - 1)
        _set_flac_field(data, "rate", value)
        return bytes(data), ".flac", f"{flac.path.name}: STREAMINFO rate {value} Hz"
    wav = [s for s in sources if s.fmt == "wav"][int(rng.integers(2))]
    data = bytearray(wav.data)
    struct.pack_into("<I", data, 24, rate)
    if rng.random() < 0.5:
        block_align = struct.unpack_from("<H", data, 32)[0]
        struct.pack_into("<I", data, 28, (rate * block_align) & 0xFFFFFFFF)
    return bytes(data), ".wav", f"{wav.path.name}: rate {rate} Hz"


ABSURD_CHANNELS = (0, 3, 7, 64, 255, 1024, 4096, 65535)


def absurd_channels(rng, sources):
    """A channel count of 0 to 65535 (the samples left as they are), with or without a matching block align."""
    channels = int(ABSURD_CHANNELS[int(rng.integers(len(ABSURD_CHANNELS)))])
    if rng.random() < 0.2:
        flac = next(s for s in sources if s.fmt == "flac")
        data = bytearray(flac.data)
        _set_flac_field(data, "channels", 7)
        return bytes(data), ".flac", f"{flac.path.name}: STREAMINFO 8 channels (the frames hold 2)"
    wav = [s for s in sources if s.fmt == "wav"][int(rng.integers(2))]
    data = bytearray(wav.data)
    struct.pack_into("<H", data, 22, channels)
    if rng.random() < 0.5:
        bits = struct.unpack_from("<H", data, 34)[0]
        struct.pack_into("<H", data, 32, (channels * bits // 8) & 0xFFFF)
    return bytes(data), ".wav", f"{wav.path.name}: {channels} channels"


def all_nan(rng, sources):
    """Float WAV of non-finite samples: all NaN, all +inf / -inf, half NaN, or one NaN in music."""
    rate = int((22050, 44100, 48000)[int(rng.integers(3))])
    n = int(rng.uniform(2.0, 12.0) * rate)
    variant = int(rng.integers(4))
    if variant == 0:
        y, what = np.full(n, np.nan, np.float32), "all NaN"
    elif variant == 1:
        y, what = np.full(n, np.inf if rng.random() < 0.5 else -np.inf, np.float32), "all infinite"
    else:
        import soundfile as sf

        music, rate = sf.read(str(sources[1].path), dtype="float32")
        y = music.copy()
        if variant == 2:
            y[: y.shape[0] // 2] = np.nan
            what = "first half NaN"
        else:
            y[int(rng.integers(y.shape[0]))] = np.nan
            what = "one NaN sample in music"
    return wav_bytes(y, rate), ".wav", f"float WAV, {what}"


def extreme_dc(rng, sources):
    """Constant or offset signals at and far beyond full scale: float DC of 1, -1, 1e3, 1e30 or 3e38, 16-bit
    full-scale DC, or music plus a 0.9 offset."""
    rate = 22050
    n = int(rng.uniform(3.0, 25.0) * rate)
    variant = int(rng.integers(4))
    if variant == 0:
        value = float((1.0, -1.0, 1e3, 1e30, 3.0e38)[int(rng.integers(5))])
        return wav_bytes(np.full(n, value, np.float32), rate), ".wav", f"float DC {value:g}"
    if variant == 1:
        return wav_bytes(np.full(n, 1.0, np.float32), rate, "PCM_16"), ".wav", "16-bit full-scale DC"
    import soundfile as sf

    music, rate = sf.read(str(sources[0].path), dtype="float32")
    if variant == 2:
        return wav_bytes(music + 0.9, rate), ".wav", "music + 0.9 DC (float, beyond full scale)"
    return wav_bytes(np.clip(music + 0.9, -1, 1), rate, "PCM_16"), ".wav", "music + 0.9 DC, clipped 16-bit"


def huge_declared(rng, sources):
    """20 h of declared length in a tiny file: a WAV whose RIFF and data sizes claim 20 h (or the 4 GB
    maximum), a FLAC whose STREAMINFO claims 20 h, or an RF64 whose ds64 claims 20 h."""
    variant = int(rng.integers(3))
    if variant == 0:
        wav = [s for s in sources if s.fmt == "wav"][int(rng.integers(2))]
        data = bytearray(wav.data[: int(rng.integers(44, min(len(wav.data), 200_000)))])
        size_at, _ = riff_chunks(bytes(wav.data))["data"]
        block_align = struct.unpack_from("<H", data, 32)[0]
        declared = min(int(20 * HOUR_S * wav.sample_rate) * block_align, 0xFFFFFFFF - 64)
        struct.pack_into("<I", data, size_at, declared)
        struct.pack_into("<I", data, 4, min(declared + size_at - 4, 0xFFFFFFFF))
        return bytes(data), ".wav", f"{wav.path.name} cut to {len(data)} bytes, declaring {declared} bytes of data"
    if variant == 1:
        flac = next(s for s in sources if s.fmt == "flac")
        data = bytearray(flac.data[: int(rng.integers(42, len(flac.data)))])
        _set_flac_field(data, "total", int(20 * HOUR_S * flac.sample_rate))
        return bytes(data), ".flac", f"{flac.path.name} cut to {len(data)} bytes, STREAMINFO 20 h"
    wav = sources[0]
    body = wav.data[44 : 44 + int(rng.integers(0, 100_000))]
    fmt = wav.data[12:36]  # 'fmt ' chunk of the 16-bit mono WAV
    declared = int(20 * HOUR_S * wav.sample_rate) * 2
    ds64 = b"ds64" + struct.pack("<IQQQI", 28, declared + 36 + 36, declared, declared // 2, 0)
    data = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)
    return data + body, ".wav", f"RF64 of {len(body)} data bytes declaring 20 h"


def tiny_or_silent(rng, sources):
    """Tiny or silent recordings: 0 to 0.5 s of music, or 5-30 s of digital silence or -90 dB noise."""
    rate = 44100
    variant = int(rng.integers(3))
    if variant == 0:
        import soundfile as sf

        music, rate = sf.read(str(sources[0].path), dtype="float32")
        n = int(rng.integers(1, int(0.5 * rate)))
        return wav_bytes(music[:n], rate, "PCM_16"), ".wav", f"{n} samples of music"
    n = int(rng.uniform(5.0, 30.0) * rate)
    if variant == 1:
        return wav_bytes(np.zeros(n, np.float32), rate, "PCM_16"), ".wav", f"{n / rate:.1f} s of digital silence"
    noise = (rng.standard_normal(n) * 10 ** (-90 / 20)).astype(np.float32)
    return wav_bytes(noise, rate), ".wav", f"{n / rate:.1f} s of -90 dB noise"


DAMAGES: dict[str, Callable] = {
    "header_flip": header_flip,
    "body_flip": body_flip,
    "truncated": truncated,
    "wrong_extension": wrong_extension,
    "zero_data": zero_data,
    "absurd_rate": absurd_rate,
    "absurd_channels": absurd_channels,
    "all_nan": all_nan,
    "extreme_dc": extreme_dc,
    "huge_declared": huge_declared,
    "tiny_or_silent": tiny_or_silent,
}
"""Damage kind -> ``fn(rng, sources) -> (bytes, suffix, detail)``."""


@dataclasses.dataclass
class Case:
    """One damaged file and what became of it.

    :param name: file stem, ``fz_{index:03d}_{kind}``. :param kind: key of :data:`DAMAGES`.
    :param detail: what was done, in words. :param path: the damaged file.
    :param outcomes: ``{command: outcome}`` (one of :data:`OUTCOMES`). :param messages: ``{command: the error
        line or a note}``. :param input_changed: commands after which the input's hash differed.
    """

    name: str
    kind: str
    detail: str
    path: Path
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)
    messages: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    input_changed: list[str] = dataclasses.field(default_factory=list)


def make_cases(folder: Path, n: int, seed: int = 0, sources: list[Source] | None = None) -> list[Case]:
    """``n`` damaged files in ``folder/inputs``, the kinds taking turns (so each gets ``n / len(DAMAGES)``)."""
    sources = sources or make_sources(folder / "sources", seed)
    rng = np.random.default_rng(seed)
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    kinds = list(DAMAGES)
    cases = []
    for index in range(n):
        kind = kinds[index % len(kinds)]
        data, suffix, detail = DAMAGES[kind](rng, sources)
        name = f"fz_{index:03d}_{kind}"
        path = folder / "inputs" / f"{name}{suffix}"
        path.write_bytes(data)
        cases.append(Case(name, kind, detail, path))
    return cases


# ---------------------------------------------------------------------------------------------
# Running and judging
# ---------------------------------------------------------------------------------------------
ERROR_LINE = re.compile(r"^(musicedit \S+: error: .*|\s*FAILED \S+: .*)$")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def musicedit_command() -> list[str]:
    """The ``musicedit`` console script beside this interpreter, else ``python -m editor_env.cli``."""
    script = Path(sys.executable).parent / "musicedit"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "editor_env.cli"]


@dataclasses.dataclass
class Run:
    """One finished (or killed) command: exit status (None: killed at the time limit), its stderr, seconds."""

    returncode: int | None
    stderr: str
    seconds: float


def run_subprocess(argv: list[str], timeout: float) -> Run:
    """``musicedit argv`` in its own process group; the whole group is killed at ``timeout`` seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*musicedit_command(), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    try:
        _, err = proc.communicate(timeout=timeout)
        return Run(proc.returncode, err.decode(errors="replace"), time.perf_counter() - started)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        return Run(None, err.decode(errors="replace"), time.perf_counter() - started)


def run_in_process(argv: list[str], timeout: float) -> Run:
    """``editor_env.cli.main(argv)`` here: an exception that escapes it is reported as a traceback."""
    import traceback

    from editor_env.cli import main

    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # what a user would see as a traceback
            traceback.print_exc(file=err)
            code = 1
    return Run(code, err.getvalue(), time.perf_counter() - started)


def error_lines(stderr: str) -> list[str]:
    """The error lines of a command's stderr (progress bars and warnings left out)."""
    lines = []
    for raw in stderr.splitlines():
        line = raw.split("\r")[-1]
        if ERROR_LINE.match(line):
            lines.append(line.strip())
    return lines


def judge(run: Run, case: Case, command: str, check_result: Callable[[], str | None]) -> tuple[str, str]:
    """``(outcome, message)`` of one command on one damaged file (see the module doc)."""
    if run.returncode is None:
        return "hang", f"killed after {run.seconds:.0f} s"
    if "Traceback (most recent call last)" in run.stderr:
        tail = [line for line in run.stderr.splitlines() if line.strip()][-1:]
        return "traceback", tail[0] if tail else "traceback"
    if run.returncode < 0 or run.returncode not in (0, 1, 2):
        try:
            name = signal.Signals(-run.returncode).name
        except ValueError:
            name = f"exit status {run.returncode}"
        return "crash", name
    errors = error_lines(run.stderr)
    if run.returncode == 0 and not errors:
        problem = check_result()
        return ("result", "") if problem is None else ("unclear", f"exit 0 but {problem}")
    if len(errors) == 1 and (case.path.name in errors[0] or f"{case.name}_raw" in errors[0]):
        return "clear error", errors[0]
    return "unclear", " | ".join(errors) or f"exit {run.returncode} without an error line"


def check_edit_output(out: Path) -> str | None:
    """None when ``out`` and its EDL are a usable edit, else what is wrong."""
    import soundfile as sf

    edl = out.with_name(f"{out.stem}.edl.json")
    if not out.is_file() or not edl.is_file():
        return f"{out.name} or its EDL is missing"
    try:
        samples, rate = sf.read(str(out), dtype="float32", always_2d=True)
        json.loads(edl.read_text())
    except Exception as exc:  # noqa: BLE001  (any failure to read back is the finding)
        return f"the output does not read back ({type(exc).__name__}: {exc})"
    if samples.shape[0] == 0 or not np.isfinite(samples).all():
        return "the output is empty or not finite"
    return None


def check_cache(cache: Path, sample: str) -> str | None:
    """None when the sample's raw mel and beats are cached with finite values, else what is wrong."""
    for path in (cache / "features" / f"{sample}_raw.npz", cache / "beats" / f"{sample}_raw.npz"):
        if not path.is_file():
            return f"{path.name} was not written"
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = [data[k] for k in data.files if data[k].dtype.kind == "f"]
        except Exception as exc:  # noqa: BLE001
            return f"{path.name} does not load ({type(exc).__name__})"
        if not all(np.isfinite(a).all() for a in arrays):
            return f"{path.name} holds non-finite values"
    return None


def run_case(case: Case, folder: Path, *, timeout: float, policy: str | None, in_process: bool) -> Case:
    """Run both commands on ``case`` and judge them (fills ``case.outcomes`` ...)."""
    runner = run_in_process if in_process else run_subprocess
    before = sha256(case.path)
    out = folder / "edits" / case.name / "edited.wav"
    argv = ["edit", str(case.path), "-o", str(out)] + (["--policy", policy] if policy else [])
    run = runner(argv, timeout)
    case.outcomes["edit"], case.messages["edit"] = judge(run, case, "edit", lambda: check_edit_output(out))
    case.seconds["edit"] = round(run.seconds, 2)
    if not case.path.is_file() or sha256(case.path) != before:
        case.input_changed.append("edit")

    data = folder / "precache" / case.name / "training_data"
    raw = data / "input" / f"{case.name}_raw{case.path.suffix}"
    raw.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(case.path, raw)
    before = sha256(raw)
    cache = data.parent / "cache"
    run = runner(["precache", "--data-dir", str(data), "--cache-dir", str(cache)], timeout)
    case.outcomes["precache"], case.messages["precache"] = judge(
        run, case, "precache", lambda: check_cache(cache, case.name)
    )
    case.seconds["precache"] = round(run.seconds, 2)
    if not raw.is_file() or sha256(raw) != before:
        case.input_changed.append("precache")
    return case


def run_fuzz(
    folder: Path,
    n: int,
    *,
    seed: int = 0,
    timeout: float = 180.0,
    policy: str | None = None,
    in_process: bool = False,
    progress: bool = True,
) -> list[Case]:
    """Make ``n`` damaged files in ``folder`` and run each through both commands (see the module doc)."""
    cases = make_cases(folder, n, seed)
    for k, case in enumerate(cases, start=1):
        run_case(case, folder, timeout=timeout, policy=policy, in_process=in_process)
        if progress:
            print(
                f"[{k}/{len(cases)}] {case.name}: edit {case.outcomes['edit']}, precache {case.outcomes['precache']}"
                f"{' INPUT CHANGED' if case.input_changed else ''}  ({case.detail})",
                flush=True,
            )
    return cases


def table(cases: list[Case]) -> str:
    """Markdown: per damage kind and command, the count of each outcome, and inputs changed."""
    head = "| damage | files | " + " | ".join(f"{c}: {o}" for c in COMMANDS for o in OUTCOMES) + " | input changed |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    groups = {kind: [c for c in cases if c.kind == kind] for kind in DAMAGES}
    groups = {k: v for k, v in groups.items() if v}
    groups["**all**"] = cases
    for kind, group in groups.items():
        counts = [sum(c.outcomes.get(cmd) == o for c in group) for cmd in COMMANDS for o in OUTCOMES]
        changed = sum(bool(c.input_changed) for c in group)
        lines.append(f"| {kind} | {len(group)} | " + " | ".join(str(v) for v in counts) + f" | {changed} |")
    return "\n".join(lines)


def summary(cases: list[Case]) -> dict[str, int]:
    """Counts over all cases: files, each outcome per command, inputs changed."""
    counts = {"files": len(cases), "input_changed": sum(bool(c.input_changed) for c in cases)}
    for cmd in COMMANDS:
        for o in OUTCOMES:
            counts[f"{cmd}:{o}"] = sum(c.outcomes.get(cmd) == o for c in cases)
    return counts


def write_results(cases: list[Case], folder: Path, command: str) -> Path:
    """``fuzz_results.json`` (every case) and ``fuzz_table.md`` into ``folder``; returns the table's path."""
    from editor_env.io import atomic_write_text

    rows = [{**dataclasses.asdict(c), "path": str(c.path)} for c in cases]
    atomic_write_text(folder / "fuzz_results.json", json.dumps({"command": command, "cases": rows}, indent=1) + "\n")
    return atomic_write_text(folder / "fuzz_table.md", f"`{command}`\n\n{table(cases)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=220, help="damaged files (default 220: 20 of each kind)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench_output/fuzz"))
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per command before it counts as a hang")
    parser.add_argument("--policy", default=None, help="musicedit edit --policy (default: the shipped default editor)")
    parser.add_argument("--quick", action="store_true", help="22 files (2 of each kind)")
    parser.add_argument("--in-process", action="store_true", help="run the commands in this process (no crash check)")
    args = parser.parse_args(argv)
    n = 2 * len(DAMAGES) if args.quick else args.n
    if args.out.exists():
        shutil.rmtree(args.out)
    started = time.perf_counter()
    cases = run_fuzz(args.out, n, seed=args.seed, timeout=args.timeout, policy=args.policy, in_process=args.in_process)
    command = "python scripts/fuzz_inputs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    path = write_results(cases, args.out, command.strip())
    print()
    print(table(cases))
    bad = [c for c in cases if c.input_changed or any(o not in ("result", "clear error") for o in c.outcomes.values())]
    print(f"\n{len(cases)} files in {time.perf_counter() - started:.0f} s; table in {path}")
    for c in bad:
        print(f"  {c.name} ({c.detail}): {c.outcomes} {c.messages} {'input changed' if c.input_changed else ''}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
