"""Decode windows: speech regions packed into what Whisper hears at once, and times mapped back.

    speech regions (audio.vad) -> plan_windows -> Window.audio (what the decoder hears)
                                                  Window.to_source_time (its times on the media timeline)

A window joins regions back to back with ``gap_s`` of silence between them, up to 30 s in all, so the
silence VAD removed costs no decoding; every time the decoder reports is mapped back piecewise.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ovsub.audio.vad import Region, as_samples
from ovsub.whisper.features import CHUNK_S, SAMPLE_RATE

MAX_WINDOW_S = float(CHUNK_S)  # Whisper hears 30 s at a time
WINDOW_GAP_S = 0.15  # silence put between two regions of one window, so words across the join stay apart
LEVEL_TOLERANCE_DB = 10.0  # level_gains() leaves a region this close to the loudest of its window as it is
MAX_GAIN_DB = 50.0  # level_gains() raises a region by at most this (the quietest shared clips are at -67 dBFS)
LEVEL_FRAME = 320  # samples: 20 ms frames for the level of a region


@dataclass(frozen=True)
class Window:
    """Speech regions decoded together: the decoder hears them back to back, ``gap_s`` of silence apart.

    Times in the window's audio map back to the source piecewise linearly: each region keeps its own
    speed and offset, and a time inside an inserted gap belongs to the end of the region before it.

    >>> w = Window((Region(10.0, 12.0), Region(20.0, 21.0)), gap_s=0.5)
    >>> w.duration_s, w.to_source_time(1.0), w.to_source_time(2.2), w.to_source_time(2.75)
    (3.5, 11.0, 12.0, 20.25)
    """

    regions: tuple[Region, ...]  # in time order, not overlapping, on the source timeline
    gap_s: float = WINDOW_GAP_S  # silence between consecutive regions in the window's audio
    offsets_s: tuple[float, ...] = field(init=False, repr=False, compare=False)  # where each region starts in it

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("a window needs at least one region")
        if self.gap_s < 0:
            raise ValueError(f"gap_s must not be negative, not {self.gap_s}")
        for before, after in zip(self.regions, self.regions[1:]):
            if after.start_s < before.end_s:
                raise ValueError(f"regions must be in order and not overlap: {before} then {after}")
        offsets = [0.0]
        for region in self.regions[:-1]:
            offsets.append(offsets[-1] + region.duration_s + self.gap_s)
        object.__setattr__(self, "offsets_s", tuple(offsets))

    @property
    def start_s(self) -> float:
        """Where the window's first region starts on the source timeline."""
        return self.regions[0].start_s

    @property
    def end_s(self) -> float:
        """Where the window's last region ends on the source timeline."""
        return self.regions[-1].end_s

    @property
    def duration_s(self) -> float:
        """Length of the window's audio: its regions plus the gaps between them."""
        return self.offsets_s[-1] + self.regions[-1].duration_s

    @property
    def speech_s(self) -> float:
        """Seconds of source audio the window holds (gaps not counted)."""
        return sum(region.duration_s for region in self.regions)

    def to_source_time(self, t_s: float) -> float:
        """Map a time in the window's audio to the source timeline.

        Inside a region the map is a shift; inside a gap it is the end of the region before; before 0 it is
        the first region's start, past the end the last region's end. The map never decreases.
        """
        i = max(bisect.bisect_right(self.offsets_s, t_s) - 1, 0)
        region = self.regions[i]
        into_s = t_s - self.offsets_s[i]
        if into_s <= 0.0:
            return region.start_s
        if into_s >= region.duration_s:
            return region.end_s
        return region.start_s + into_s

    def to_window_time(self, source_t_s: float) -> float:
        """Map a source time into the window's audio (the inverse of to_source_time inside regions).

        A source time in removed silence maps to the end of the region before it (or to 0 before the first).
        """
        starts = [region.start_s for region in self.regions]
        i = bisect.bisect_right(starts, source_t_s) - 1
        if i < 0:
            return 0.0
        region = self.regions[i]
        if source_t_s >= region.end_s:
            return self.offsets_s[i] + region.duration_s
        return self.offsets_s[i] + (source_t_s - region.start_s)

    def audio(self, full_audio: np.ndarray, level: bool = False) -> np.ndarray:
        """The samples the decoder hears: each region cut from ``full_audio`` (16 kHz), zeros in the gaps.

        Each region starts at the sample nearest its offset, so sample positions agree with to_source_time to
        half a sample whatever the number of regions. With ``level``, quieter regions are raised to the
        loudest one's level (:func:`level_gains`).
        """
        samples = as_samples(full_audio)
        out = np.zeros(round(self.duration_s * SAMPLE_RATE), dtype=np.float32)
        pieces = []
        for region in self.regions:
            first = min(round(region.start_s * SAMPLE_RATE), samples.size)
            last = min(round(region.end_s * SAMPLE_RATE), samples.size)
            pieces.append(samples[first:last])
        gains = level_gains(pieces) if level else [1.0] * len(pieces)
        for piece, gain, offset_s in zip(pieces, gains, self.offsets_s):
            at = round(offset_s * SAMPLE_RATE)
            piece = piece[: max(out.size - at, 0)]
            out[at : at + piece.size] = piece if gain == 1.0 else piece * np.float32(gain)
        return out


def speech_level_db(piece: np.ndarray) -> float | None:
    """How loud speech is in ``piece``: the 90th percentile of its 20 ms RMS levels, in dBFS (None if empty).

    >>> round(speech_level_db((0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)))
    -23
    """
    frames = piece[: piece.size // LEVEL_FRAME * LEVEL_FRAME].reshape(-1, LEVEL_FRAME)
    if not frames.size:
        return None
    rms_db = 10 * np.log10(np.mean(np.square(frames, dtype=np.float32), axis=1) + 1e-12)
    return float(np.percentile(rms_db, 90))


def level_gains(pieces: list[np.ndarray]) -> list[float]:
    """A gain for each region of a window that raises the quieter ones to the loudest one's speech level.

    Why: Whisper hears a 30 s window whose log-mel is clamped 80 dB below its loudest frame, and takes
    faint speech beside loud speech for background: a FLEURS clip at -65 dBFS packed beside one at
    -17 dBFS was skipped whole (bench/longform.py), and decoded right on its own. Only relative level
    matters to Whisper, so the loudest region, a region within LEVEL_TOLERANCE_DB of it and a window of
    one region are left exactly as they are; a gain is at most MAX_GAIN_DB and never makes a sample clip.

    >>> loud, quiet = np.full(3200, 0.1, np.float32), np.full(3200, 0.001, np.float32)
    >>> [round(g, 1) for g in level_gains([loud, quiet])]
    [1.0, 100.0]
    """
    levels = [speech_level_db(p) for p in pieces]
    known = [lv for lv in levels if lv is not None]
    if len(known) < 2:
        return [1.0] * len(pieces)
    target = max(known)
    gains = []
    for piece, lv in zip(pieces, levels):
        if lv is None or target - lv <= LEVEL_TOLERANCE_DB:
            gains.append(1.0)
            continue
        peak = float(np.max(np.abs(piece)))
        gain = 10 ** (min(target - lv, MAX_GAIN_DB) / 20)
        gains.append(min(gain, 0.99 / peak) if peak > 0 else 1.0)
    return gains


def plan_windows(
    regions: Sequence[Region], max_window_s: float = MAX_WINDOW_S, gap_s: float = WINDOW_GAP_S
) -> list[Window]:
    """Pack ordered, non-overlapping regions into decode windows whose audio lasts at most ``max_window_s``.

    Regions go into a window in order while they fit (each joined region costs ``gap_s`` of silence).
    Two regions at most ``gap_s`` apart are joined with the real audio between them instead. A region
    longer than ``max_window_s`` (speech_regions makes none with the same limit) is cut into equal parts.

    >>> [w.regions for w in plan_windows([Region(0.0, 20.0), Region(21.0, 29.0), Region(40.0, 45.0)])]
    [(Region(start_s=0.0, end_s=20.0), Region(start_s=21.0, end_s=29.0)), (Region(start_s=40.0, end_s=45.0),)]
    """
    if max_window_s <= 0:
        raise ValueError(f"max_window_s must be positive, not {max_window_s}")
    if gap_s < 0 or gap_s >= max_window_s:
        raise ValueError(f"gap_s must be at least 0 and below max_window_s ({max_window_s}), not {gap_s}")
    for before, after in zip(regions, regions[1:]):
        if after.start_s < before.end_s:
            raise ValueError(f"regions must be in order and not overlap: {before} then {after}")
    fits = max_window_s + 1e-9  # float sums of durations may land a hair above an exact fit
    windows: list[Window] = []
    current: list[Region] = []
    length_s = 0.0
    for region in (part for r in regions for part in _equal_parts(r, max_window_s)):
        if current:
            last = current[-1]
            if region.start_s - last.end_s <= gap_s:
                joined_s = length_s + (region.end_s - last.end_s)
                if joined_s <= fits:
                    current[-1] = Region(last.start_s, region.end_s)
                    length_s = joined_s
                    continue
            elif length_s + gap_s + region.duration_s <= fits:
                current.append(region)
                length_s += gap_s + region.duration_s
                continue
            windows.append(Window(tuple(current), gap_s))
        current = [region]
        length_s = region.duration_s
    if current:
        windows.append(Window(tuple(current), gap_s))
    return windows


def _equal_parts(region: Region, max_s: float) -> list[Region]:
    """The region itself if it lasts at most ``max_s``, else that many equal parts of it."""
    count = math.ceil(region.duration_s / max_s)
    if count <= 1:
        return [region]
    step_s = region.duration_s / count
    cuts = [region.start_s + k * step_s for k in range(1, count)]
    edges = [region.start_s, *cuts, region.end_s]
    return [Region(a, b) for a, b in zip(edges, edges[1:])]
