"""The handout's Figures 1 and 2 as functions and as the ``aares fp plot`` commands.

- Figure 1, :func:`plot_spectrogram_figure`: a song's spectrogram with its maxima, and one
  anchor with its target zone and the 10 strongest maxima in it (the pairs that become hashes).
- Figure 2, :func:`plot_match_figure`: for an excerpt, the time of each shared hash in the
  excerpt against its time in the song, for the best song and for a wrong one, with the
  histogram of offsets ``t_song - t_excerpt`` (one bin per frame) under each: the true song
  shows a diagonal line of matches and one tall bar, a wrong song scattered points.

The ``aares fp plot spectrogram`` / ``match`` commands (in :mod:`aares.fingerprint.cli`)
draw them.

Example
-------
>>> from aares.fingerprint.plots import plot_spectrogram_figure          # doctest: +SKIP
>>> plot_spectrogram_figure("songs/song.mp3", "figure1.png")              # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from aares.fingerprint import course
from aares.fingerprint.audio import load_audio
from aares.fingerprint.spectrogram import bin_frequencies
from aares.plotting import save_figure, styled, subplots

__all__ = [
    "plot_spectrogram_figure",
    "plot_match_figure",
    "SongMatch",
    "course_matches",
]

FRAME_S = course.HOP_LENGTH / course.SR


# --- Figure 1 --------------------------------------------------------------------------------


def _pick_anchor(S: np.ndarray, maxima: np.ndarray) -> np.ndarray:
    # The anchor shown: a strong maximum in the middle half of the song whose zone is full
    # (10 points), so that the figure shows all the pairs one anchor makes.
    n_frames = S.shape[1]
    middle = (maxima[:, 1] > n_frames // 4) & (maxima[:, 1] < 3 * n_frames // 4)
    pool = maxima[middle] if middle.any() else maxima
    counts = np.array([len(course.get_maxima_in_tz(S, maxima, a)) for a in pool])
    full = pool[counts == counts.max()]
    return full[np.argmax(S[full[:, 0], full[:, 1]])]


@styled
def plot_spectrogram_figure(
    song_path: str | os.PathLike,
    out_png: str | os.PathLike,
    anchor: tuple[int, int] | None = None,
) -> Path:
    """Figure 1: spectrogram, maxima, one anchor with its target zone and its 10 maxima.

    The left panel shows the whole song (dB, 0-1.5 kHz at the course's 3 kHz) with its
    maxima (:func:`aares.fingerprint.course.get_maxima`); the right panel zooms on the
    anchor, its target zone (next 300 frames, +-10 bins) and the 10 strongest maxima in it,
    joined to the anchor: each line is one hash. ``anchor`` is ``(bin, frame)`` of a maximum;
    by default a strong one in the middle of the song with a full zone.

    Returns the PNG path.
    """
    song_path = Path(song_path)
    x, sr = course.load(song_path)
    S = course.compute_spectrogram(x)
    maxima = course.get_maxima(S)
    if maxima.shape[0] == 0:
        raise ValueError(f"{song_path}: no spectrogram maxima (silent or too short)")
    if anchor is None:
        a = _pick_anchor(S, maxima)
    else:
        a = np.asarray(anchor, dtype=np.int64)
    zone = course.get_maxima_in_tz(S, maxima, a)
    db = 10 * np.log10(np.maximum(S, S.max() * 1e-8))
    freqs = bin_frequencies(course.N_FFT, sr)
    seconds = S.shape[1] * FRAME_S
    extent = (0, seconds, 0, freqs[-1])

    fig, (ax1, ax2) = subplots(1, 2, figsize=(15, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    vmin, vmax = np.percentile(db, [5, 99.9])
    for ax in (ax1, ax2):
        ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                  vmin=vmin, vmax=vmax, interpolation="nearest")  # fmt: skip
        ax.grid(False)
        ax.set_xlabel("time (s)")
    ax1.set_ylabel("frequency (Hz)")
    t_of, f_of = (lambda t: (t + 0.5) * FRAME_S), (lambda f: f * sr / course.N_FFT)
    ax1.scatter(t_of(maxima[:, 1]), f_of(maxima[:, 0]), s=5, c="cyan", lw=0, label="maxima")
    ax1.set_title(f"{_short(song_path.stem)}\n{len(maxima)} maxima (get_maxima)", fontsize=10)

    # zoom: the anchor's target zone
    t0, t1 = a[1] - 30, a[1] + course.TZ_FRAMES + 30
    f0, f1 = a[0] - 6 * course.TZ_BINS, a[0] + 6 * course.TZ_BINS
    near = (maxima[:, 1] >= t0) & (maxima[:, 1] <= t1) & (maxima[:, 0] >= f0) & (maxima[:, 0] <= f1)
    ax2.scatter(t_of(maxima[near, 1]), f_of(maxima[near, 0]), s=14, c="cyan", lw=0,
                label="maxima")  # fmt: skip
    zx0, zx1 = t_of(a[1] + 0.5), t_of(a[1] + course.TZ_FRAMES + 0.5)
    zy0, zy1 = f_of(a[0] - course.TZ_BINS - 0.5), f_of(a[0] + course.TZ_BINS + 0.5)
    for ax in (ax1, ax2):
        ax.add_patch(Rectangle((zx0, zy0), zx1 - zx0, zy1 - zy0, fill=False, ec="lime", lw=1.5))
    for f_p, t_p in zone:
        ax2.plot([t_of(a[1]), t_of(t_p)], [f_of(a[0]), f_of(f_p)], c="white", lw=0.7, alpha=0.8)
    ax2.scatter(t_of(zone[:, 1]), f_of(zone[:, 0]), s=40, facecolors="none", edgecolors="lime",
                lw=1.4, label=f"{len(zone)} strongest in zone")  # fmt: skip
    ax2.scatter([t_of(a[1])], [f_of(a[0])], s=120, marker="*", c="red", label="anchor", zorder=5)
    ax1.scatter([t_of(a[1])], [f_of(a[0])], s=60, marker="*", c="red", zorder=5)
    ax2.set_xlim(t_of(t0), t_of(t1))
    ax2.set_ylim(f_of(f0), f_of(f1))
    ax2.set_title(
        f"anchor (bin {a[0]}, frame {a[1]}): target zone {course.TZ_FRAMES} frames x "
        f"+-{course.TZ_BINS} bins\n{len(zone)} hashes f_a*1e6 + f_p*1e3 + (t_p - t_a)",
        fontsize=10,
    )
    ax2.legend(loc="upper right", fontsize=8, framealpha=0.8)
    return save_figure(fig, out_png)


def _short(name: str, width: int = 55) -> str:
    # keep the end of long names: "Classicals.de - Debussy - ..." differ at the end
    return name if len(name) <= width else "..." + name[-(width - 3) :]


# --- Figure 2 --------------------------------------------------------------------------------


@dataclass
class SongMatch:
    """The hashes an excerpt shares with one song: their times in both (in frames)."""

    name: str
    t_excerpt: np.ndarray
    t_song: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        return self.t_song - self.t_excerpt

    @property
    def score(self) -> int:
        """Tallest bar of the offset histogram, one bin per frame."""
        o = self.offsets
        return int(np.bincount(o - o.min()).max()) if o.size else 0


def course_matches(
    excerpt_hashes: dict[int, int], dataset: list[dict[int, int]], names: list[str] | None
) -> list[SongMatch]:
    """One :class:`SongMatch` per song of a course dataset, best first (score, as search_song)."""
    names = names or [f"song {i}" for i in range(len(dataset))]
    matches = [
        SongMatch(name, *course.matching_times(song, excerpt_hashes))
        for name, song in zip(names, dataset, strict=True)
    ]
    order = np.argsort([-m.score for m in matches], kind="stable")
    return [matches[i] for i in order]


def plot_match_figure(
    excerpt: str | os.PathLike,
    db: str | os.PathLike,
    out_png: str | os.PathLike,
) -> Path:
    """Figure 2: shared hashes' time in the excerpt vs in the song, best and a wrong song.

    Parameters
    ----------
    excerpt : path
        The audio excerpt to look up.
    db : path
        An engine catalog (the SQLite file of ``aares fp index``; the excerpt is hashed with
        the catalog's profile), a course dataset (``.npz``/``.json`` written by
        :func:`aares.fingerprint.course.save_dataset`, with song names), or a folder of songs
        (hashed on the fly with the course functions).
    out_png : path
        The PNG written.

    The top row plots, for each hash the excerpt shares with the song, its time in the
    excerpt (x) against its time in the song (y): for the right song most points lie on one
    line ``t_song = t_excerpt + offset``. The bottom row is the histogram of offsets with one
    bin per frame, whose tallest bar is the song's score (as in :func:`course.search_song`).
    Songs are ranked by that score (the engine's speed search is not drawn).
    """
    excerpt, db = Path(excerpt), Path(db)
    if _is_sqlite(db):
        matches, frame_s, how = _catalog_matches(excerpt, db)
        return _draw_match(excerpt.name, matches, frame_s, out_png, how)
    dataset, names = _course_db(db)
    x, _ = course.load(excerpt)
    matches = course_matches(course.process_signal(x), dataset, names)
    return _draw_match(excerpt.name, matches, FRAME_S, out_png, "course functions")


def _is_sqlite(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def _catalog_matches(excerpt: Path, db: Path) -> tuple[list[SongMatch], float, str]:
    # The engine's catalog: hash the excerpt with the catalog's own profile, then join its
    # hashes with each song's postings (a hash may occur several times on either side).
    from aares.fingerprint.catalog import Catalog
    from aares.fingerprint.landmarks import fingerprint

    with Catalog(db, create=False) as catalog:
        profile = catalog.profile
        x, _ = load_audio(excerpt, sr=profile.sr, quality=profile.resample_quality)
        q_hash, q_time = fingerprint(x, profile)
        order = np.argsort(q_hash, kind="stable")
        q_hash, q_time = q_hash[order], q_time[order].astype(np.int64)
        matches = []
        for info in catalog.songs():
            s_hash, s_time = catalog.store.postings(info.id)
            lo = np.searchsorted(q_hash, s_hash, side="left")
            hi = np.searchsorted(q_hash, s_hash, side="right")
            n = hi - lo
            song_idx = np.repeat(np.arange(s_hash.size), n)
            q_idx = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
            name = info.title or Path(info.path).name
            matches.append(SongMatch(name, q_time[q_idx], s_time[song_idx].astype(np.int64)))
    matches.sort(key=lambda m: -m.score)
    return matches, profile.frame_seconds, f"catalog {db.name}, profile {profile.name}"


def _course_db(db: Path) -> tuple[list[dict[int, int]], list[str] | None]:
    if db.is_dir():
        dataset, names = course.build_dataset(course.song_files(db), progress=True)
        return dataset, names
    dataset, names = course.load_dataset(db, with_names=True)
    if len(dataset) < 2:
        raise ValueError(f"{db}: the match figure needs at least 2 songs, found {len(dataset)}")
    return dataset, names


@styled
def _draw_match(
    title: str, matches: list, frame_s: float, out_png: str | os.PathLike, how: str
) -> Path:
    if len(matches) < 2:
        raise ValueError("the match figure needs at least 2 songs in the database")
    shown = [(matches[0], "best song"), (matches[1], "a wrong song (2nd best)")]
    fig, axes = subplots(2, 2, figsize=(12, 8), gridspec_kw={"height_ratios": [3, 2]})
    for col, (m, label) in enumerate(shown):
        ax, hx = axes[0, col], axes[1, col]
        o = m.offsets
        ax.scatter(m.t_excerpt * frame_s, m.t_song * frame_s, s=10, alpha=0.6,
                   c="tab:blue" if col == 0 else "tab:red", lw=0)  # fmt: skip
        ax.set_xlabel("time of the hash in the excerpt (s)")
        ax.set_ylabel("time of the hash in the song (s)")
        name = _short(Path(m.name).stem)
        ax.set_title(f"{label}: {name}\n{o.size} shared hashes, score {m.score}", fontsize=10)
        if o.size:
            lo = int(o.min())
            counts = np.bincount(o - lo)
            peak = lo + int(counts.argmax())
            nz = np.flatnonzero(counts)
            # vlines, not bars: a one-frame bar is thinner than a pixel on a song-long axis
            hx.vlines((lo + nz) * frame_s, 0, counts[nz], lw=1.2,
                      colors="tab:blue" if col == 0 else "tab:red")  # fmt: skip
            hx.set_ylim(0, counts.max() * 1.08 + 0.5)
            hx.set_title(f"offsets, one bin per frame: tallest bar {counts.max()} at "
                         f"{peak * frame_s:.1f} s", fontsize=10)  # fmt: skip
            if col == 0 and counts.max() > 1:
                t_ex = np.array([m.t_excerpt.min(), m.t_excerpt.max()]) * frame_s
                ax.plot(t_ex, t_ex + peak * frame_s, c="k", lw=0.8, ls="--",
                        label=f"t_song = t_excerpt + {peak * frame_s:.1f} s")  # fmt: skip
                ax.legend(loc="upper left", fontsize=8)
        else:
            hx.set_title("no shared hash", fontsize=10)
        hx.set_xlabel("offset t_song - t_excerpt (s)")
        hx.set_ylabel("hashes")
    fig.suptitle(f"Excerpt {title} ({how})", fontweight="bold")
    fig.tight_layout()
    return save_figure(fig, out_png)
