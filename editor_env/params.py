"""Analysis parameters shared by every cached feature, with a stable hash for cache keys."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from editor_env.errors import MusicEditError


@dataclasses.dataclass(frozen=True)
class AudioParams:
    """How raw audio is turned into analysis features (DESIGN.md, "Audio defaults").

    Rendering never uses these: it works on the original samples at the original rate.
    """

    sample_rate: int = 22050
    """Analysis sample rate in Hz (audio is resampled to it with soxr, mono)."""
    n_fft: int = 2048
    """STFT window length in samples."""
    hop_length: int = 512
    """STFT hop in samples: one analysis frame is ``hop_length / sample_rate`` s (about 23 ms)."""
    n_mels: int = 128
    """Number of mel bins."""
    n_mfcc: int = 20
    """MFCC coefficients per frame (mean and std of each go into the beat features)."""
    top_db: float = 80.0
    """Mel dB floor: the stored mel is ``(clip(mel_db, -top_db, 0) + top_db) / top_db`` in [0, 1]."""
    default_bpm: float = 120.0
    """Tempo of the fallback beat grid, used when the tracker finds no beats (silence, noise)."""
    beats_per_bar: int = 4
    """Meter assumed by the downbeat estimate (4/4)."""

    def __post_init__(self) -> None:
        checks = {
            "sample_rate": self.sample_rate >= 8000,
            "n_fft": self.n_fft >= 64,
            "hop_length": 0 < self.hop_length <= self.n_fft,
            "n_mels": self.n_mels >= 8,
            "n_mfcc": 1 <= self.n_mfcc <= self.n_mels,
            "top_db": self.top_db > 0,
            "default_bpm": 20 <= self.default_bpm <= 400,
            "beats_per_bar": 1 <= self.beats_per_bar <= 16,
        }
        for field, ok in checks.items():
            if not ok:
                raise MusicEditError(
                    f"AudioParams.{field}={getattr(self, field)!r} makes no sense; "
                    f"the default is {getattr(AudioParams, field)!r}."
                )

    @property
    def frame_seconds(self) -> float:
        """Duration of one analysis frame in seconds."""
        return self.hop_length / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Short stable hash of the parameters: caches made with other parameters differ."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def seconds_to_frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate / self.hop_length))

    def frames_to_seconds(self, frames: float) -> float:
        return frames * self.hop_length / self.sample_rate


DEFAULT_PARAMS = AudioParams()
