"""Log-mel features of a clip's sound track, one vector per sampled video frame.

Sample k at time t_k gets the mean mel power of the audio in [t_k, t_k + 1/fps), on a log
scale: the sound that plays while that frame is shown. The audio is decoded and resampled to
16 kHz mono as the frames are asked for, and what is no longer needed is dropped, so memory
stays bounded on long clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seq2seq.video.decode import TIMEOUT, DecodeError, as_source, open_video

RATE = 16_000
N_FFT = 400  # 25 ms windows
HOP = 160  # 10 ms


class LogMel:
    """Call with increasing sample times (seconds from the first video frame) to get their
    log-mel vectors (len(times), n_mels) float32."""

    def __init__(
        self, path: str | Path, fps: float, n_mels: int = 64, first_time: float = 0.0, timeout: float = TIMEOUT
    ) -> None:
        import av
        import torchaudio.functional as F

        # a second reader of the same file or URL (for a live stream: a second connection)
        self.path, self.span, self.first_time = as_source(path), 1.0 / fps, first_time
        self.container = open_video(self.path, timeout)
        if not self.container.streams.audio:
            self.container.close()
            raise DecodeError(f"{self.path}: has no sound track for --audio features; leave --audio off")
        self.packets = self.container.decode(self.container.streams.audio[0])
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        self.buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start = 0  # sample index (at RATE, from the first video frame) of buffer[0]
        self.started = False
        self.done = False
        self.fbanks = F.melscale_fbanks(N_FFT // 2 + 1, 0.0, RATE / 2, n_mels, RATE)  # (freqs, n_mels)
        self.window = torch.hann_window(N_FFT)

    def _fill(self, until: int) -> None:
        """Decode until the buffer reaches sample ``until`` (or the sound track ends)."""
        while not self.done and self.buffer_start + len(self.buffer) < until:
            try:
                frame = next(self.packets)
            except StopIteration:
                self.done = True
                break
            except Exception as e:  # PyAV raises several error types for broken audio
                raise DecodeError(f"{self.path}: the sound track cannot be decoded ({e})") from None
            if not self.started and frame.time is not None:
                # audio that starts before or after the first video frame
                self.buffer_start = round((float(frame.time) - self.first_time) * RATE)
                self.started = True
            for out in self.resampler.resample(frame):
                self.buffer = np.concatenate([self.buffer, out.to_ndarray().reshape(-1).astype(np.float32)])

    def __call__(self, times: list[float]) -> np.ndarray:
        out = []
        for t in times:
            a, b = round(t * RATE), round((t + self.span) * RATE)
            self._fill(b)
            lo, hi = a - self.buffer_start, b - self.buffer_start
            piece = np.zeros(max(b - a, N_FFT), dtype=np.float32)  # silence where there is no audio
            src = self.buffer[max(lo, 0) : max(hi, 0)]
            offset = max(0, -lo)
            piece[offset : offset + len(src)] = src[: len(piece) - offset]
            spec = torch.stft(
                torch.from_numpy(piece), N_FFT, HOP, window=self.window, center=False, return_complex=True
            )
            mel = (spec.abs() ** 2).T @ self.fbanks  # (frames, n_mels)
            out.append(torch.log(mel.mean(0) + 1e-6).numpy())
            drop = max(0, lo)  # earlier audio is never asked for again
            self.buffer, self.buffer_start = self.buffer[drop:], self.buffer_start + drop
        return np.stack(out).astype(np.float32) if out else np.zeros((0, self.fbanks.shape[1]), np.float32)

    def close(self) -> None:
        self.container.close()
