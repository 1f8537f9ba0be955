"""``aares fp ...``: index songs into a catalog, identify excerpts, list, remove, plot, bench."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aares.console import console, progress, progress_steps

if TYPE_CHECKING:  # the engine (numpy, numba) loads inside the commands
    from aares.fingerprint.catalog import Catalog

app = typer.Typer(
    help="Audio fingerprints (Shazam-style): index songs into a catalog, then name the song "
    "an excerpt comes from, with its offset, even 5 % fast or slow, noisy or over a phone.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

#: The profile names for --help (the engine's PROFILES, which a test keeps in step), so that
#: the help does not load the engine.
PROFILE_NAMES = ("course", "default")

DB_OPTION = typer.Option(
    ...,
    "--db",
    help="The catalog: a file (SQLite), or postgresql://user@host/dbname; created by `index`.",
)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def _open(db: str, profile: str | None = None, create: bool = False) -> Catalog:
    from aares.fingerprint.catalog import Catalog
    from aares.fingerprint.store import StoreError

    try:
        return Catalog(db, profile=profile, create=create)
    except (StoreError, ValueError) as exc:
        _fail(str(exc))
        raise  # unreachable


@app.command("index")
def index_cmd(
    paths: list[Path] = typer.Argument(..., help="Audio files or folders (searched recursively)."),
    db: str = DB_OPTION,
    profile: str = typer.Option(
        None,
        "--profile",
        "-p",
        help=f"Fingerprint profile of a new catalog: {', '.join(PROFILE_NAMES)} (default: "
        "'default', or the existing catalog's own profile).",
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, help="Processes decoding and analysing (at most the cores)."
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        help="Analyse on a Dask cluster: local:N (N processes here) or tcp://scheduler:8786.",
    ),
) -> None:
    """Index audio files into the catalog (WAV, FLAC, Ogg, Opus, MP3; others via ffmpeg).

    Files already in the catalog (same content) are skipped, so an interrupted run (Ctrl-C,
    kill) resumes where it stopped. A file that cannot be decoded is reported and the run goes
    on. Several runs may add to one catalog at once; each song is stored once.
    """
    from rich.progress import TextColumn

    from aares.fingerprint.catalog import audio_files
    from aares.fingerprint.landmarks import get_profile
    from aares.fingerprint.parallel import (
        ClusterError,
        check_cluster,
        connect_scheduler,
        sigterm_as_interrupt,
    )
    from aares.fingerprint.store import StoreError

    workers = cluster
    try:  # the cheap checks first: the options, then the scheduler, then the files
        if profile is not None:
            get_profile(profile)
        if cluster is not None and not check_cluster(cluster).startswith("local:"):
            workers = connect_scheduler(cluster)  # before any catalog is created
    except ValueError as exc:  # ClusterError too
        _fail(str(exc), 2)
    files = audio_files(paths)
    if not files:
        _fail("no audio files found in " + ", ".join(map(str, paths)), 2)
    cat = _open(db, profile, create=True)
    hours = TextColumn("{task.fields[rate]}")
    failed = 0
    with cat, progress(hours) as bar:
        task = bar.add_task("indexing", total=len(files), rate="")
        start = time.perf_counter()
        state = {"seconds": 0.0, "songs": 0}

        def on_progress(ev: dict) -> None:
            nonlocal failed
            if ev["status"] == "failed":
                failed += 1
                bar.console.print(f"[red]error:[/] {ev['message']}")
            elif ev["status"] == "added":
                state["seconds"] += ev["seconds"]
                state["songs"] += 1
            wall = max(time.perf_counter() - start, 1e-9)
            bar.update(
                task,
                advance=1,
                rate=f"{state['songs'] / wall:.1f} songs/s, {state['seconds'] / 3600:.2f} h "
                f"({state['seconds'] / wall:.0f}x realtime)",
            )

        try:
            # (the query index's update after the songs: a task of its own in the bar)
            with sigterm_as_interrupt(), progress_steps(bar, rate="") as on_index:
                report = cat.add(
                    files, jobs=jobs, on_progress=on_progress, cluster=workers,
                    on_index_progress=on_index,
                )  # fmt: skip
            n = len(cat)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted:[/] songs indexed so far are kept; rerun to resume")
            raise typer.Exit(130) from None
        except (StoreError, ClusterError) as exc:
            bar.stop()
            _fail(str(exc))
        finally:
            if workers is not cluster:  # the scheduler's client opened above
                workers.close()
    console.print(
        f"{len(report.added)} added, {len(report.skipped)} already there, {len(report.failed)} "
        f"failed; {report.audio_seconds / 3600:.2f} h of audio in {report.wall_seconds:.1f} s "
        f"({report.realtime:.0f}x realtime, {report.where}); catalog {cat.store.location} holds "
        f"{n} songs (profile {cat.profile.name})"
    )
    if report.failed:
        raise typer.Exit(1)


@app.command("identify")
def identify_cmd(
    files: list[Path] = typer.Argument(
        ..., help="Excerpts to identify: audio files, or folders (searched recursively)."
    ),
    db: str = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="One JSON line per excerpt on stdout."),
    top: int = typer.Option(3, "--top", min=1, help="At most this many matches per excerpt."),
    related: bool = typer.Option(
        False,
        "--related",
        help="Search every speed, stretch and pitch for every excerpt and "
        "list the other versions of its song in the catalog (slower).",
    ),
) -> None:
    """Name the song each excerpt comes from, with the offset (s) into the song.

    An excerpt that matches nothing in the catalog (another song, silence, noise, speech)
    gives "no match". The change column says how the excerpt differs from the song: sped up
    or slowed ("speed 1.12x": tempo and pitch together), time-stretched ("stretch 0.90x":
    tempo only) or pitch-shifted ("pitch +2.0 st": semitones). Rows marked "related" are
    other songs of the catalog holding the same audio (another version, a sped-up copy).
    Only the first 60 s of each file are read (a few seconds name a song).
    """
    from dataclasses import replace

    import numpy as np
    from rich.table import Table

    from aares.fingerprint.audio import AudioError
    from aares.fingerprint.catalog import audio_files
    from aares.fingerprint.heap import keep_freed_memory
    from aares.fingerprint.store import StoreError

    excerpts = audio_files(files)
    if not excerpts:
        _fail("no audio files found in " + ", ".join(map(str, files)), 2)
    keep_freed_memory()  # (each excerpt's arrays reuse the last one's heap: heap.py)
    cat = _open(db)
    cat.settings = replace(cat.settings, top=top, related=related)
    bad = 0
    table = Table(title=f"matches in {cat.store.location}", header_style="bold")
    for col in ("excerpt", "song", "artist", "offset (s)", "score", "confidence", "change"):
        table.add_column(col, justify="right" if col[0] in "osc" and col != "song" else "left")
    with cat:
        try:  # read the catalog once, before timing the excerpts (a bar if it is rebuilt)
            with progress_steps() as step:
                cat.open_index(on_progress=step)
        except StoreError as exc:
            _fail(str(exc))
        # load the compiled (numba) code too: about a second, once per process
        warm = np.random.default_rng(0).standard_normal(2 * cat.profile.sr)
        cat.identify_signal(0.1 * warm.astype(np.float32))
        for f in excerpts:
            t0 = time.perf_counter()
            try:
                matches = cat.identify(f)
            except (AudioError, ValueError) as exc:
                bad += 1
                console.print(f"[red]error:[/] {exc}")
                if as_json:
                    print(json.dumps({"excerpt": str(f), "error": str(exc)}), flush=True)
                continue
            ms = (time.perf_counter() - t0) * 1e3
            if as_json:
                row = {"excerpt": str(f), "matches": [m.to_dict() for m in matches]}
                row["ms"] = round(ms, 2)
                print(json.dumps(row), flush=True)
                continue
            if not matches:
                table.add_row(f.name, "[yellow]no match[/]", "", "", "", "", "")
            for i, m in enumerate(matches):
                table.add_row(
                    f.name if i == 0 else "",
                    f"[dim]related:[/] {m.title}" if m.related else m.title,
                    m.artist,
                    f"{m.offset:.2f}",
                    str(m.score),
                    f"{m.confidence:.3f}",
                    m.describe_change(),
                )
    if not as_json and table.row_count:  # (every excerpt unreadable: its errors say it all)
        console.print(table)
    if bad:
        raise typer.Exit(1)


@app.command("list")
def list_cmd(
    db: str = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="One JSON line per song on stdout."),
    related: bool = typer.Option(
        False,
        "--related",
        help="List the songs that share audio (versions, sped-up copies): "
        "a few excerpts of each song file are identified against the catalog.",
    ),
) -> None:
    """List the songs of a catalog (or, with --related, which of them share audio)."""
    from rich.table import Table

    cat = _open(db)
    if related:
        with cat:
            pairs = cat.related_songs()
            n_songs = len(cat)
        if as_json:
            for r in pairs:
                print(json.dumps(r.to_dict()))
            return
        table = Table(title=f"{cat.store.location}: songs that share audio", header_style="bold")
        for col in ("song", "related song", "at (s)", "offset (s)", "change", "excerpts"):
            table.add_column(col, justify="left" if "song" in col or col == "change" else "right")
        for r in pairs:
            table.add_row(
                f"{r.song.id}: {r.song.title}", f"{r.other.id}: {r.other.title}",
                f"{r.at:.1f}", f"{r.match.offset:.1f}", r.match.describe_change(),
                f"{r.windows}/{r.searched}",
            )  # fmt: skip
        console.print(table)
        console.print(f"{len(pairs)} related pairs among {n_songs} songs")
        return
    with cat:
        songs = cat.songs()
        size = cat.store.size_bytes()
    if as_json:
        for s in songs:
            print(json.dumps(s.to_dict()))
        return
    table = Table(
        title=f"{cat.store.location}: {len(songs)} songs, profile {cat.profile.name}",
        header_style="bold",
    )
    for col in ("id", "title", "artist", "duration", "hashes", "file"):
        table.add_column(col, justify="right" if col in ("id", "duration", "hashes") else "left")
    for s in songs:
        m, sec = divmod(round(s.duration), 60)
        name = Path(s.path).name
        table.add_row(str(s.id), s.title, s.artist, f"{m}:{sec:02d}", f"{s.n_hashes:,}", name)
    console.print(table)
    hours = sum(s.duration for s in songs) / 3600
    console.print(f"{hours:.2f} h of audio, {size / 1e6:.1f} MB on disk")


@app.command("stats")
def stats_cmd(
    db: str = DB_OPTION,
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """What a catalog holds: songs, hours, postings, bytes on disk, bucket occupancy, formats.

    A catalog whose query index is missing or of an older format gets it (re)built here
    from its songs, in place.
    """
    from aares.fingerprint.store import StoreError

    cat = _open(db)
    with cat:
        try:
            with progress_steps() as step:  # (a bar when the index is rebuilt)
                cat.open_index(on_progress=step)
            info = cat.stats()
        except StoreError as exc:
            _fail(str(exc))
    if as_json:
        print(json.dumps(info))
        return
    occ = info.get("bucket_occupancy") or {}
    lines = [
        f"catalog       {info['catalog']} (format {info['store_format']}, profile"
        f" {info['profile']}, {info['hash_bits']}-bit pair hashes"
        + (
            f", {info['index_bits']}-bit three-point index keys)"
            if info["index_bits"] > info["hash_bits"]
            else ")"
        ),
        f"songs         {info['songs']:,} ({info['hours']:.2f} h of audio)",
        f"postings      {info['postings']:,}"
        + (f" ({info['distinct_hashes']:,} distinct hashes)" if "distinct_hashes" in info else ""),
        f"store         {info['store_bytes'] / 1e6:.1f} MB",
    ]
    if info["index"] == "disk":
        lines += [
            f"index         {info['bytes'] / 1e6:.1f} MB ({info['index_mb_per_hour']:.2f} MB per"
            f" audio hour) in {info['index_folder']}, format {info['index_format']},"
            f" {info['segments']} segment(s), {info['dead_songs']} removed song(s) not yet"
            " merged away",
        ]
        from aares.fingerprint.index import FOLDER_FORMAT
        from aares.fingerprint.segment import SELECTIVE_MAX, VERSION

        oldest = min(info.get("segment_versions") or [VERSION])
        if oldest == 1:
            lines.append(
                "key filters   none in segment(s) of format 1 (lookups read every key's"
                " block): `aares fp compact` rewrites them with filters"
            )
        elif info.get("key_filter_bytes"):
            few = f", and those held at most {SELECTIVE_MAX} times"
            lines.append(
                f"key filters   {info['key_filter_bytes'] / 1e6:.1f} MB (the keys held"
                + (few if info.get("selective_filter_bytes") else "")
                + ": lookups skip the others unread)"
            )
        if info.get("stored_max"):
            lines.append(
                f"stop postings keys held over {info['stored_max']} times are stored as one"
                " posting (the first stage's stop list drops them)"
            )
        elif oldest < VERSION and info["index_bits"] > info["hash_bits"]:
            lines.append(
                f"stop postings none in segment(s) of format {FOLDER_FORMAT}.{oldest} (every"
                " posting of the stop-listed keys is stored): `aares fp compact` rewrites"
                " them, about a third smaller"
            )
        cached, memory = info.get("page_cache_bytes"), info.get("memory_bytes")
        if cached is not None and info["bytes"]:
            line = (
                f"page cache    {cached / 1e6:,.1f} of {info['bytes'] / 1e6:,.1f} MB of the"
                f" index in memory now ({cached / info['bytes']:.0%})"
            )
            if cached < info["bytes"]:
                line += "; queries read the rest from the disk"
            if memory and info["bytes"] > 0.8 * memory:
                line += (
                    f"; this machine's {memory / 1e9:.1f} GB of memory cannot hold the index"
                    " beside the rest: queries will wait on the disk"
                )
            lines += [line]
    else:
        lines += [f"index         in memory, {info['bytes'] / 1e6:.1f} MB"]
    if occ:
        lines += [
            f"buckets       postings per distinct hash: mean {occ['mean']:.1f}, median"
            f" {occ['median']:.0f}, 99 % {occ['p99']:.0f}, max {occ['max']:,}; a lookup meets"
            f" {occ['seen_by_a_posting']:.0f} on average"
            + (
                f" (a stopped key counts as {info['stored_max'] + 1})"
                if info.get("stored_max")
                else ""
            ),
        ]
    console.print("\n".join(lines), highlight=False)


@app.command("compact")
def compact_cmd(db: str = DB_OPTION) -> None:
    """Merge a catalog's on-disk index into one segment (removed songs dropped)."""
    from aares.fingerprint.store import StoreError

    cat = _open(db)
    with cat, progress_steps() as step:
        try:
            index = cat.compact(on_progress=step)
        except (StoreError, OSError) as exc:
            _fail(f"{cat.store.location}: cannot compact the index ({exc})")
        console.print(
            f"{cat.store.location}: index of {len(index):,} postings in one segment,"
            f" {index.nbytes / 1e6:.1f} MB"
        )


@app.command("remove")
def remove_cmd(
    songs: list[str] = typer.Argument(..., help="Songs to remove: ids, paths or titles."),
    db: str = DB_OPTION,
) -> None:
    """Remove songs (and their fingerprints) from a catalog."""
    from aares.fingerprint.store import StoreError

    cat = _open(db)
    missing = 0
    with cat:
        for key in songs:
            try:
                info = cat.remove(key)
            except StoreError as exc:
                _fail(str(exc))
            except KeyError as exc:
                missing += 1
                console.print(f"[red]error:[/] {exc.args[0]}")
                continue
            console.print(f"removed song {info.id}: {info.title} ({info.path})")
    if missing:
        raise typer.Exit(1)


@app.command("copy")
def copy_cmd(
    source: str = typer.Option(..., "--from", help="The catalog to copy (file or postgresql://)."),
    dest: str = typer.Option(..., "--to", help="The new catalog (file or postgresql://)."),
) -> None:
    """Copy a catalog between SQLite and PostgreSQL (either way, or file to file).

    Songs keep their ids and their fingerprints byte for byte, so the copy identifies exactly
    as the original. The destination must be new or empty; an interrupted copy resumes.
    Copying a catalog file by hand is safe too once no process writes it (aares folds the
    write-ahead log into the file at the end of every run): copy the .db file alone.
    """
    from aares.fingerprint.landmarks import get_profile
    from aares.fingerprint.store import StoreError, copy_store, open_store

    try:
        with open_store(source, create=False, readonly=True) as src:
            profile = get_profile(src.profile)
            with open_store(dest, profile=profile.name, profile_params=profile.to_dict()) as dst:
                total = len(src.songs())
                with progress() as bar:
                    task = bar.add_task("copying", total=total, completed=len(dst.songs()))
                    n = copy_store(src, dst, on_song=lambda _: bar.advance(task))
                console.print(
                    f"copied {n} songs from {src.location} to {dst.location}; it holds "
                    f"{len(dst.songs())} songs (profile {dst.profile})"
                )
    except StoreError as exc:
        _fail(str(exc))


@app.command("bench")
def bench_cmd(
    folders: list[Path] = typer.Argument(..., help="Folders of songs to benchmark on."),
    out: Path = typer.Option(
        Path("fp-bench"), "--out", help="Working folder (catalogs, excerpts, results.json)."
    ),
    profile: list[str] = typer.Option(
        ["default", "course"], "--profile", "-p", help="Profiles to compare (repeatable)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the excerpts and perturbations."),
    per_song: int = typer.Option(3, "--per-song", min=1, help="Excerpts per song and length."),
    holdout: float = typer.Option(
        0.2, "--holdout", min=0.0, max=0.9, help="Share of songs kept out of the index."
    ),
    quick: bool = typer.Option(False, "--quick", help="1 excerpt per song, fewer variants."),
    jobs: int = typer.Option(2, "--jobs", "-j", min=1, help="Processes for the parallel run."),
    changes: bool = typer.Option(
        False,
        "--changes",
        help="Also sped up / slowed 0.85x and 1.18x, stretched 0.9x and "
        "1.1x, pitch-shifted -2 and +2 semitones, 'slowed + reverb', 'sped up' (1.2x).",
    ),
) -> None:
    """Benchmark the engine on any folder of music: accuracy per variant (clean, noise 0 dB,
    5 % fast/slow, MP3 32 kbit/s, phone; with --changes, larger speed, stretch and pitch
    changes), false positives, indexing and query speed, size.

    Prints the tables and writes them (with every figure) to OUT/results.json and
    OUT/report.md.
    """
    from aares.fingerprint.audio import AudioError
    from aares.fingerprint.catalog import audio_files
    from aares.fingerprint.evaluate import BenchConfig, run_bench

    files = audio_files(folders)
    if len(files) < 3:
        _fail(f"need at least 3 audio files to benchmark, found {len(files)}", 2)
    from aares.fingerprint.variants import CHANGES, VARIANTS

    cfg = BenchConfig(
        seed=seed, per_song=1 if quick else per_song, holdout=holdout, quick=quick, jobs=jobs,
        variants=VARIANTS + CHANGES if changes else VARIANTS,
    )  # fmt: skip
    try:
        result = run_bench(files, out, profiles=profile, config=cfg)
    except (AudioError, ValueError) as exc:
        _fail(str(exc))
        return
    console.print(result.markdown)
    sys.stdout.flush()


# --- `aares fp plot`: the course helper's figures (Figures 1 and 2 of the handout) ----------

plot_app = typer.Typer(
    help="The handout's fingerprint figures as PNG files (Figure 1: spectrogram and target "
    "zone; Figure 2: matches of an excerpt).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _plot_fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}", highlight=False)
    raise typer.Exit(1)


# One paragraph per line: Rich keeps a docstring's line breaks in --help.
_SPECTROGRAM_HELP = (
    "Figure 1: a song's spectrogram, its maxima, one anchor and its target zone.\n\n"
    "The spectrogram uses the course's parameters (3 kHz, n_fft 2048, window 1024, hop 512); "
    "the maxima are get_maxima's; the zoom shows one anchor, its target zone (300 frames, "
    "+-10 bins) and the 10 strongest maxima in it, each pair one hash."
)
_MATCH_HELP = (
    "Figure 2: where an excerpt's hashes fall in the best song and in a wrong one.\n\n"
    "For each hash the excerpt shares with a song: its time in the excerpt against its time "
    "in the song (a line for the right song), and under it the histogram of offsets with one "
    "bin per frame (one tall bar for the right song)."
)


@plot_app.command("spectrogram", help=_SPECTROGRAM_HELP)
def spectrogram_cmd(
    song: Path = typer.Argument(..., help="An audio file (MP3, FLAC, WAV, Ogg, ...)."),
    out: Path = typer.Option(
        None,
        "-o",
        "--out",
        help="PNG to write (default: `SONG.spectrogram.png` here, SONG the file's name).",
    ),
) -> None:
    """Figure 1 (the help text is _SPECTROGRAM_HELP)."""
    from aares.fingerprint.plots import plot_spectrogram_figure

    out = out or Path(f"{song.stem}.spectrogram.png")
    try:
        path = plot_spectrogram_figure(song, out)
    except ValueError as exc:
        _plot_fail(exc)
    console.print(f"wrote {path}")


@plot_app.command("match", help=_MATCH_HELP)
def match_cmd(
    excerpt: Path = typer.Argument(..., help="The audio excerpt to look up."),
    db: Path = typer.Option(
        ...,
        "--db",
        help="The database: a catalog from `aares fp index` (SQLite), a course dataset "
        "(.npz/.json written by aares.fingerprint.course.save_dataset) or a folder of songs "
        "(hashed on the fly with the course functions).",
    ),
    out: Path = typer.Option(
        None,
        "-o",
        "--out",
        help="PNG to write (default: `EXCERPT.match.png` here, EXCERPT the file's name).",
    ),
) -> None:
    """Figure 2 (the help text is _MATCH_HELP)."""
    from aares.fingerprint.plots import plot_match_figure

    out = out or Path(f"{excerpt.stem}.match.png")
    try:
        path = plot_match_figure(excerpt, db, out)
    except ValueError as exc:
        _plot_fail(exc)
    console.print(f"wrote {path}")


app.add_typer(plot_app, name="plot")
