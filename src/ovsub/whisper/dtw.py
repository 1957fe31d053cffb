"""The array stages of word timing: alignment-head scores -> a token-to-frame match -> a monotonic path.

Steps 2 and 3 of the method ``alignment.py`` describes, after OpenAI Whisper's ``timing.py``:
``match_matrix`` turns the pre-softmax cross-attention scores of the alignment heads into a
[tokens, frames] match (softmax over frames, standardised over tokens, ``median_filter`` along time,
averaged over heads), and ``dtw_path`` finds the cheapest monotonic path through its negation.

Why a module of their own: they are plain numpy over matrices, knowing nothing of tokens, words
or OpenVINO, so each is tested against a straightforward reference loop on random matrices. Both
are written as whole-array operations (a sorting network for the median, anti-diagonals for the
path) so that one window takes milliseconds without compiled code.
"""

from __future__ import annotations

import functools

import numpy as np

MEDIAN_FILTER_WIDTH = 7  # columns smoothed together before the path search (Whisper's medfilt_width)


def median_filter(x: np.ndarray, width: int = MEDIAN_FILTER_WIDTH) -> np.ndarray:
    """Running median of odd ``width`` along the last axis, edges padded by reflection.

    Rows no longer than ``width // 2`` are returned unchanged (reflection needs more), as in Whisper.
    The median comes out of a sorting network cut down to the comparisons the middle value depends
    on, run as element-wise min/max over shifted views, a block of rows at a time so the work stays
    in cache: some ten times faster than partitioning every window.

    >>> median_filter(np.array([1.0, 9.0, 2.0, 3.0, 8.0]), 3).tolist()
    [9.0, 2.0, 3.0, 3.0, 3.0]
    """
    if width < 1 or width % 2 == 0:
        raise ValueError(f"median filter width must be a positive odd number, got {width}")
    x = np.asarray(x)
    pad = width // 2
    if pad == 0 or x.shape[-1] <= pad:
        return x
    n = x.shape[-1]
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect").reshape(-1, n + 2 * pad)
    out = np.empty((padded.shape[0], n), dtype=padded.dtype)
    block = max(1, _MEDIAN_BLOCK_VALUES // n)
    network = _median_network(width)
    for r in range(0, padded.shape[0], block):
        rows = padded[r : r + block]
        lanes = [rows[:, k : k + n] for k in range(width)]  # lane k: the k-th value of every window
        for a, b, keep_min, keep_max in network:
            low = np.minimum(lanes[a], lanes[b]) if keep_min else lanes[a]
            if keep_max:
                lanes[b] = np.maximum(lanes[a], lanes[b])
            lanes[a] = low
        out[r : r + block] = lanes[pad]
    return out.reshape(x.shape)


_MEDIAN_BLOCK_VALUES = 1 << 15  # values per lane and block in median_filter (fits a core's L2 cache)


@functools.lru_cache(maxsize=8)
def _median_network(width: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """Batcher's odd-even merge sort on ``width`` lanes, keeping only what the middle lane needs.

    Each entry (a, b, keep_min, keep_max) compares lanes a < b; lane a takes the smaller value if
    keep_min, lane b the larger if keep_max (an output nothing later reads is not computed).
    """
    size = 1 << (width - 1).bit_length()  # the network is built for a power of two; missing lanes
    pairs: list[tuple[int, int]] = []  # act as +inf, so comparisons with them change nothing
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < width:
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    needed = {width // 2}
    kept: list[tuple[int, int, bool, bool]] = []
    for a, b in reversed(pairs):
        if a in needed or b in needed:
            kept.append((a, b, a in needed, b in needed))
            needed |= {a, b}
    return tuple(reversed(kept))


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest monotonic path through a [n_tokens, n_frames] cost matrix, from corner to corner.

    Moves are one step in time, one step in text, or both. The result is (text indices, time indices),
    one pair per step, both starting at 0 and ending at the last row and column. Decisions and
    rounding are those of Whisper's ``dtw_cpu``: the accumulated cost is stored in float32; the
    diagonal or the text move is taken only when strictly cheapest, otherwise the time move (even when
    the diagonal and the text move tie below it).

    The recurrence runs over anti-diagonals (cells with equal row + column), each one a handful of
    vector operations, so a 200 x 1500 matrix takes a few tens of milliseconds without compiled code.

    >>> dtw_path(np.array([[0.0, 0.0, 5.0], [5.0, 5.0, 0.0]]))
    (array([0, 0, 1]), array([0, 1, 2]))
    """
    x = np.asarray(cost, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"cost must be a 2-D [tokens, frames] matrix, got shape {x.shape}")
    n, m = x.shape
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()

    # Skewed layout: row d holds the cells (i, j) of the (n + 1) x (m + 1) accumulated matrix with
    # i + j == d, at column i. Cell (i, j) then needs (i-1, j-1) at [d-2, i-1], (i-1, j) at [d-1, i-1]
    # and (i, j-1) at [d-1, i]: three aligned slices. Cells outside the matrix, and the borders
    # i == 0 or j == 0 (except the origin), stay +inf.
    n_diag = n + m + 1
    # Shift row r of x right by r (padding each row with infs and re-reading the flat buffer with a
    # shorter row length), then transpose: cost[r, c] lands on diagonal r + c + 2, column r + 1.
    shifted = np.pad(x, ((0, 0), (0, n + 1)), constant_values=np.inf).ravel()[: n * (m + n)]
    skew_x = np.full((n_diag, n + 1), np.inf)
    skew_x[2:, 1:] = shifted.reshape(n, m + n).T[: n_diag - 2]

    finite = bool(np.isfinite(x).all())
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and float32 overflow are expected
        acc = _accumulate(skew_x, finite)

    # The move taken into each cell, for all cells at once now that all costs are known:
    # 0 diagonal, 1 text (up), 2 time (left). Borders: row 0 moves left, column 0 moves up.
    c0, c1, c2 = acc[:-2, :-1], acc[1:-1, :-1], acc[1:-1, 1:]
    trace = np.full((n_diag, n + 1), 2, dtype=np.int8)
    trace[2:, 1:] -= ((c0 < c1) & (c0 < c2)).astype(np.int8) * 2 + ((c1 < c0) & (c1 < c2))
    trace[: n + 1, :][np.diag_indices(n + 1)] = 1  # j == 0: cell (i, 0) sits at [i, i]
    trace[:, 0] = 2  # i == 0

    moves = trace.tobytes()  # plain ints are much faster to walk than numpy scalars
    width = n + 1
    i, j = n, m
    path_i: list[int] = []
    path_j: list[int] = []
    while i > 0 or j > 0:
        path_i.append(i - 1)
        path_j.append(j - 1)
        move = moves[(i + j) * width + i]
        if move != 2:
            i -= 1
        if move != 1:
            j -= 1
    return np.array(path_i[::-1], dtype=np.int64), np.array(path_j[::-1], dtype=np.int64)


def _accumulate(skew_x: np.ndarray, finite: bool) -> np.ndarray:
    """Accumulated path costs (float32, skewed as in ``dtw_path``), one anti-diagonal at a time.

    Whisper's rule: the diagonal if c0 < c1 and c0 < c2, the text move if c1 < c0 and c1 < c2,
    otherwise the time move, whose cost c2 is used even when c0 == c1 < c2. With finite costs that is
    the smallest of the three except on a c0 == c1 tie (ties are common once the median filter has
    flattened the matrix), where it is c2. A NaN anywhere also means c2, which takes longer to test.
    """
    n_diag, width = skew_x.shape
    n = width - 1
    acc = np.full((n_diag, width), np.inf, dtype=np.float32)
    acc[0, 0] = 0.0
    best = np.empty(n, dtype=np.float32)
    take_c2 = np.empty(n, dtype=bool)
    better = np.empty(n, dtype=bool)
    for d in range(2, n_diag):
        c0 = acc[d - 2, :-1]
        c1 = acc[d - 1, :-1]
        c2 = acc[d - 1, 1:]
        np.minimum(c0, c1, out=best)
        np.equal(c0, c1, out=take_c2)
        if finite:
            np.minimum(best, c2, out=best)
        else:
            np.less(best, c2, out=better)  # False whenever a NaN is involved
            np.less_equal(better, take_c2, out=take_c2)  # (not better) or c0 == c1
        np.copyto(best, c2, where=take_c2)
        # float64 cost + float32 path, stored as float32: the rounding of Whisper's dtw_cpu
        np.add(skew_x[d, 1:], best, out=acc[d, 1:], casting="same_kind")
    return acc


def match_matrix(scores: np.ndarray, first_row: int, n_rows: int, n_cols: int, medfilt_width: int) -> np.ndarray:
    """[n_rows, n_cols] token-to-frame match from [heads, sequence, frames] pre-softmax scores."""
    w = scores[:, :, :n_cols].astype(np.float32)
    w = w - w.max(axis=-1, keepdims=True)
    np.exp(w, out=w)
    w /= w.sum(axis=-1, keepdims=True)
    # Standardised over every row of the sequence (prefix and end-of-text rows too), as Whisper does.
    mean = w.mean(axis=-2, keepdims=True)
    std = w.std(axis=-2, keepdims=True)
    w = w[:, first_row : first_row + n_rows]  # the rest only mattered for the statistics
    w = (w - mean) / np.where(std > 0, std, 1.0).astype(np.float32)
    matrix: np.ndarray = median_filter(w, medfilt_width).mean(axis=0)
    return matrix
