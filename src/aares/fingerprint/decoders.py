"""Fast decoders to mono at (or near) the fingerprint's sample rate, with soxr for the rest.

:func:`decode_mono` is what :func:`aares.fingerprint.audio.load_audio` tries first when it
is asked for mono samples at a rate below the file's and a quality other than the course's
``"HQ"``. Per codec (CPU per audio hour measured in BENCHMARKS.md, section "Indexing
throughput per codec"):

- **MP3**: libmpg123 (ctypes) mixes to mono before its synthesis filter bank and, when the
  target rate allows, decodes only the lower half or quarter of the 32 subbands at half or a
  quarter of the rate (``MPG123_DOWN_SAMPLE``); soxr takes the rest of the way.
- **Opus**: the Ogg pages are parsed here (RFC 7845: ``OpusHead`` pre-skip and output gain,
  the last page's granule for the exact length) and libopus (ctypes) decodes each packet
  straight to mono at the smallest of its rates (8/12/16/24/48 kHz) that is >= the target.
  Only channel mapping family 0 (mono, stereo); others go the general way.
- **Ogg Vorbis and what libsndfile cannot read** (AAC/M4A, WMA, ...): FFmpeg's decoders in
  this process through PyAV (``av``), in a filter graph (``amovie`` source) that hands out
  blocks of 65,536 samples, so that Python does no work per packet; its Vorbis decoder
  costs half of libvorbis's CPU.

Every decoder streams: blocks are mixed and resampled as they come (:class:`MonoSink`), so
memory holds the output at the target rate, not the file at its own. A missing library
(``libmpg123.so.0``, ``libopus.so.0``, the ``av`` package) or a file a decoder cannot handle
makes :func:`decode_mono` return ``None`` and the caller takes its general path, which also
words the errors for damaged files. Ogg page checksums are not verified (a damaged page
decodes as a few milliseconds of noise, which fingerprints shrug off).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import struct
from pathlib import Path

import numpy as np
import soxr

__all__ = ["MonoSink", "av_blocks", "decode_mono", "decode_mp3", "decode_opus", "decode_av"]

BLOCK = 1 << 16  # samples handed to the resampler at a time


class DecodeError(Exception):
    """A file this decoder cannot read; the caller falls back to its general path."""


class MonoSink:
    """Mono float32 blocks at ``rate`` in, resampled to ``sr`` (soxr's stream) as they come.

    ``limit`` caps the input (samples at ``rate``); :attr:`full` says when it is reached. The
    output of :meth:`finish` has ``ceil(n * sr / rate)`` samples for ``n`` samples taken,
    like :func:`aares.fingerprint.audio.resample` of the whole signal.
    """

    def __init__(
        self,
        rate: int,
        sr: int,
        quality: str = "MQ",
        frames_hint: int = 0,
        limit: int | None = None,
    ):
        self.rate, self.sr, self.limit = int(rate), int(sr), limit
        self._stream = (
            soxr.ResampleStream(rate, sr, 1, dtype="float32", quality=quality)
            if rate != sr
            else None
        )
        if limit is not None:
            frames_hint = min(frames_hint, limit) if frames_hint > 0 else limit
        size = int(np.ceil(max(frames_hint, 0) * self.sr / self.rate)) + BLOCK
        self._out = np.empty(size, dtype=np.float32)
        self._pos = 0  # output samples written
        self.taken = 0  # input samples taken

    @property
    def full(self) -> bool:
        return self.limit is not None and self.taken >= self.limit

    def add(self, chunk: np.ndarray) -> None:
        """Take ``chunk`` (1-D float32 at ``rate``), or as much of it as ``limit`` allows."""
        if self.limit is not None:
            chunk = chunk[: max(self.limit - self.taken, 0)]
        if chunk.size == 0:
            return
        self.taken += chunk.size
        if self._stream is not None:
            chunk = self._stream.resample_chunk(chunk, last=False)
        self._put(chunk)

    def finish(self) -> np.ndarray:
        """The whole output at ``sr`` (trimmed or zero-padded to the exact length)."""
        if self._stream is not None:
            self._put(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        n_out = int(np.ceil(self.taken * float(self.sr) / self.rate))
        self._put(np.zeros(max(n_out - self._pos, 0), np.float32))
        return self._out[:n_out]

    def _put(self, chunk: np.ndarray) -> None:
        end = self._pos + chunk.size
        if end > self._out.size:  # the length hint was short (MP3 headers, a chained file)
            grown = np.empty(max(end + BLOCK, self._out.size * 3 // 2), np.float32)
            grown[: self._pos] = self._out[: self._pos]
            self._out = grown
        self._out[self._pos : end] = chunk
        self._pos = end


def decode_mono(
    path: str | os.PathLike,
    sr: int,
    quality: str = "MQ",
    max_seconds: float | None = None,
) -> np.ndarray | None:
    """Mono float32 samples of ``path`` at ``sr``, or ``None`` when no fast decoder fits.

    ``None`` means: the format is one libsndfile decodes well (WAV, FLAC), the library a
    decoder needs is missing, or the file is one it cannot read (damaged, surround Opus,
    chained Ogg streams, ...); the caller then decodes it its general way.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".mp3":
            return decode_mp3(path, sr, quality, max_seconds)
        if suffix in (".opus", ".ogg", ".oga"):
            kind = _ogg_codec(path)
            if kind == "opus":
                return decode_opus(path, sr, quality, max_seconds)
            if kind == "vorbis":
                return decode_av(path, sr, quality, max_seconds)
            return None
        if suffix in _AV_SUFFIXES:
            return decode_av(path, sr, quality, max_seconds)
    except (
        DecodeError,
        OSError,
        ValueError,
        EOFError,
        RuntimeError,
        IndexError,
        struct.error,
        *_av_errors(),
    ):
        return None
    return None


# formats libsndfile does not read, which went to an ffmpeg process before
_AV_SUFFIXES = (".m4a", ".aac", ".wma", ".mp4", ".webm", ".mka")


def _ogg_codec(path: Path) -> str:
    # the first packet of an Ogg stream names its codec (RFC 7845, Vorbis I spec 4.2.1)
    with open(path, "rb") as fh:
        head = fh.read(27 + 255 + 8)
    if head[:4] != b"OggS" or len(head) < 28:
        return ""
    first = head[27 + head[26] :]
    if first.startswith(b"OpusHead"):
        return "opus"
    if first.startswith(b"\x01vorbis"):
        return "vorbis"
    return ""


# --------------------------------------------------------------------------- libmpg123 (MP3)
_MPG123_ADD_FLAGS, _MPG123_DOWN_SAMPLE = 2, 4
_MPG123_MONO_MIX, _MPG123_QUIET, _MPG123_GAPLESS = 0x4, 0x20, 0x40
_MPG123_MONO, _MPG123_ENC_FLOAT_32 = 1, 0x200
_MPG123_DONE, _MPG123_NEW_FORMAT, _MPG123_OK = -12, -11, 0
#: libmpg123's 1/2 and 1/4 rate synthesis lags its full-rate output by this many samples of
#: the file's rate (measured: 20.8 us at 48 kHz; correlation 0.9999999 once aligned, far
#: below a fingerprint frame of 32 ms)
MP3_REDUCED_RATE_LAG = 1


@functools.cache
def _mpg123() -> ctypes.CDLL | None:
    lib = _load("libmpg123.so.0", "mpg123")
    if lib is None:
        return None
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    lib.mpg123_new.restype = vp
    lib.mpg123_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.mpg123_param.argtypes = [vp, ctypes.c_int, ctypes.c_long, ctypes.c_double]
    lib.mpg123_format_none.argtypes = [vp]
    lib.mpg123_format.argtypes = [vp, ctypes.c_long, ctypes.c_int, ctypes.c_int]
    lib.mpg123_open.argtypes = [vp, ctypes.c_char_p]
    lib.mpg123_getformat.argtypes = (
        [vp] + [ctypes.POINTER(ctypes.c_long)] + 2 * [ctypes.POINTER(ctypes.c_int)]
    )
    lib.mpg123_read.argtypes = [vp, vp, sz, ctypes.POINTER(sz)]
    lib.mpg123_length.restype = ctypes.c_long
    lib.mpg123_length.argtypes = [vp]
    lib.mpg123_strerror.restype = ctypes.c_char_p
    lib.mpg123_strerror.argtypes = [vp]
    lib.mpg123_close.argtypes = [vp]
    lib.mpg123_delete.argtypes = [vp]
    if lib.mpg123_init() != _MPG123_OK:
        return None
    return lib


def decode_mp3(
    path: str | os.PathLike,
    sr: int,
    quality: str = "MQ",
    max_seconds: float | None = None,
    down: int | None = None,
) -> np.ndarray | None:
    """MP3 to mono at ``sr`` with libmpg123: mixed before synthesis, at 1/2 or 1/4 rate.

    ``down`` (0, 1, 2: the rate divided by ``2**down``) is chosen when ``None``: the lowest
    rate still >= ``sr``.
    """
    lib = _mpg123()
    if lib is None:
        return None
    probe = _mpg123_open(lib, path)
    try:
        rate = _mpg123_format(lib, probe)[0]
    finally:
        _mpg123_close(lib, probe)
    if down is None:  # the lower 16 or 8 of the 32 subbands hold all below sr's Nyquist
        down = max(d for d in (0, 1, 2) if d == 0 or rate >> d >= sr)
    handle = _mpg123_open(lib, path, down=down, rate=rate >> down)
    try:
        if _mpg123_format(lib, handle) != (rate >> down, 1, _MPG123_ENC_FLOAT_32):
            raise DecodeError("libmpg123 did not give mono float32 at the rate asked")
        out_rate = rate >> down
        limit = None if max_seconds is None else int(max_seconds * out_rate)
        sink = MonoSink(out_rate, sr, quality, max(lib.mpg123_length(handle), 0), limit)
        buf = np.empty(BLOCK, dtype=np.float32)
        done = ctypes.c_size_t()
        while not sink.full:
            ret = lib.mpg123_read(handle, buf.ctypes.data, buf.nbytes, ctypes.byref(done))
            if done.value:
                sink.add(buf[: done.value // 4])  # the sink copies (resampled) at once
            if ret == _MPG123_DONE:
                break
            if ret not in (_MPG123_OK, _MPG123_NEW_FORMAT):
                raise DecodeError(_mpg123_error(lib, handle))
        return sink.finish()
    finally:
        _mpg123_close(lib, handle)


def _mpg123_open(lib: ctypes.CDLL, path: str | os.PathLike, down: int = 0, rate: int = 0) -> int:
    # A handle on ``path``; with ``rate``, one giving mono float32 at ``rate`` (the file's
    # rate >> down). Parameters and formats must be set before the file is opened.
    err = ctypes.c_int()
    handle = lib.mpg123_new(None, ctypes.byref(err))
    if not handle:
        raise DecodeError("libmpg123 could not make a decoder")
    try:
        flags = _MPG123_MONO_MIX | _MPG123_QUIET | _MPG123_GAPLESS
        lib.mpg123_param(handle, _MPG123_ADD_FLAGS, flags, 0.0)
        if rate:
            lib.mpg123_param(handle, _MPG123_DOWN_SAMPLE, down, 0.0)
            lib.mpg123_format_none(handle)
            if lib.mpg123_format(handle, rate, _MPG123_MONO, _MPG123_ENC_FLOAT_32) != _MPG123_OK:
                raise DecodeError(_mpg123_error(lib, handle))
        if lib.mpg123_open(handle, os.fsencode(path)) != _MPG123_OK:
            raise DecodeError(_mpg123_error(lib, handle))
        return handle
    except BaseException:
        lib.mpg123_delete(handle)
        raise


def _mpg123_format(lib: ctypes.CDLL, handle: int) -> tuple[int, int, int]:
    # (rate, channels, encoding) of the output; reads up to the first frame
    rate, channels, enc = ctypes.c_long(), ctypes.c_int(), ctypes.c_int()
    ret = lib.mpg123_getformat(
        handle, ctypes.byref(rate), ctypes.byref(channels), ctypes.byref(enc)
    )
    if ret != _MPG123_OK:
        raise DecodeError(_mpg123_error(lib, handle))
    return int(rate.value), int(channels.value), int(enc.value)


def _mpg123_error(lib: ctypes.CDLL, handle: int) -> str:
    return (lib.mpg123_strerror(handle) or b"libmpg123 error").decode(errors="replace")


def _mpg123_close(lib: ctypes.CDLL, handle: int) -> None:
    lib.mpg123_close(handle)
    lib.mpg123_delete(handle)


def _load(soname: str, name: str) -> ctypes.CDLL | None:
    # the system library (it comes with ffmpeg, which .ci/run installs); None when absent
    for candidate in (soname, ctypes.util.find_library(name)):
        if candidate:
            try:
                return ctypes.CDLL(candidate)
            except OSError:
                continue
    return None


# ----------------------------------------------------------------------- libopus (Ogg Opus)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@functools.cache
def _libopus() -> ctypes.CDLL | None:
    lib = _load("libopus.so.0", "opus")
    if lib is None:
        return None
    vp = ctypes.c_void_p
    lib.opus_decoder_create.restype = vp
    lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.opus_decode_float.restype = ctypes.c_int
    lib.opus_decode_float.argtypes = [
        vp,
        ctypes.c_char_p,
        ctypes.c_int32,
        vp,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.opus_decoder_destroy.argtypes = [vp]
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [ctypes.c_int]
    return lib


def decode_opus(
    path: str | os.PathLike,
    sr: int,
    quality: str = "MQ",
    max_seconds: float | None = None,
    rate: int | None = None,
) -> np.ndarray | None:
    """Ogg Opus to mono at ``sr``: libopus decodes each packet to mono at ``rate`` (one of
    8, 12, 16, 24, 48 kHz; when ``None``, the lowest that is >= ``sr``), soxr the rest."""
    lib = _libopus()
    if lib is None:
        return None
    if rate is None:
        rate = next((r for r in _OPUS_RATES if r >= sr), 48000)
    elif rate not in _OPUS_RATES:
        raise ValueError(f"libopus decodes at {_OPUS_RATES} Hz, not {rate}")
    with open(path, "rb") as fh:
        end_granule = _last_granule(fh)
        packets = _ogg_packets(fh)
        serial, head = next(packets, (None, b""))
        if not head.startswith(b"OpusHead") or len(head) < 19:
            raise DecodeError("no OpusHead packet")
        channels, pre_skip, _, gain, family = struct.unpack_from("<BHIhB", head, 9)
        if family != 0 or channels not in (1, 2):
            raise DecodeError(f"channel mapping family {family} ({channels} channels)")
        next(packets, None)  # OpusTags
        # lengths in 48 kHz samples (RFC 7845 4: granule positions always count at 48 kHz)
        total = None if end_granule is None else max(end_granule.get(serial, 0) - pre_skip, 0)
        if max_seconds is not None:
            total = min(total if total is not None else 1 << 62, int(max_seconds * 48000))
        limit = None if total is None else -(-total * rate // 48000)
        sink = MonoSink(rate, sr, quality, limit or 0, limit)
        err = ctypes.c_int()
        decoder = lib.opus_decoder_create(rate, 1, ctypes.byref(err))  # 1: libopus downmixes
        if not decoder:
            raise DecodeError(lib.opus_strerror(err.value).decode(errors="replace"))
        try:
            _opus_packets(lib, decoder, packets, serial, sink, skip=-(-pre_skip * rate // 48000))
        finally:
            lib.opus_decoder_destroy(decoder)
    x = sink.finish()
    if gain:  # OpusHead output gain, Q7.8 dB
        x *= np.float32(10.0 ** (gain / (20.0 * 256.0)))
    return x


def _opus_packets(lib, decoder, packets, serial, sink: MonoSink, skip: int) -> None:
    # decode into one block (at most 120 ms a packet), hand full blocks to the sink, drop
    # the first ``skip`` samples (the pre-skip)
    max_frame = 120 * sink.rate // 1000
    block = np.empty(BLOCK + max_frame, dtype=np.float32)
    base, pos = block.ctypes.data, 0
    for stream, packet in packets:
        if stream != serial:
            continue  # another logical stream multiplexed in the file
        n = lib.opus_decode_float(decoder, packet, len(packet), base + 4 * pos, max_frame, 0)
        if n < 0:
            raise DecodeError(lib.opus_strerror(n).decode(errors="replace"))
        pos += n
        if pos >= BLOCK:
            drop = min(skip, pos)
            sink.add(block[drop:pos])  # the sink copies or resamples at once
            skip, pos = skip - drop, 0
            if sink.full:
                return
    drop = min(skip, pos)
    sink.add(block[drop:pos])


def _ogg_packets(fh):
    # (serial, packet) of every complete packet of an Ogg file (RFC 3533), read 1 MiB at a
    # time. Bytes between pages are skipped (as libogg does); a truncated last page ends the
    # stream; a stream beginning after another's data pages (a chained file) is refused.
    buf, at, eof = b"", 0, False
    partial: dict[int, bytes] = {}
    data_seen = False

    def fill(n: int) -> bool:  # at least n bytes from ``at`` in buf
        nonlocal buf, at, eof
        while len(buf) - at < n and not eof:
            more = fh.read(max(1 << 20, n))
            eof = not more
            buf, at = buf[at:] + more, 0
        return len(buf) - at >= n

    while fill(27):
        if buf[at : at + 4] != b"OggS":
            found = buf.find(b"OggS", at)
            at = found if found >= 0 else max(len(buf) - 3, at)
            continue
        nseg = buf[at + 26]
        if not fill(27 + nseg):
            return
        lacing = buf[at + 27 : at + 27 + nseg]
        if not fill(27 + nseg + sum(lacing)):
            return
        flags, serial = buf[at + 5], struct.unpack_from("<I", buf, at + 14)[0]
        if flags & 2 and data_seen:
            raise DecodeError("chained Ogg streams")
        data_seen = data_seen or not flags & 2
        piece = partial.pop(serial, b"")
        if not flags & 1:  # not continued from the page before: a fresh packet
            piece = b""
        start = at + 27 + nseg
        for size in lacing:
            piece += buf[start : start + size]
            start += size
            if size < 255:
                yield serial, piece
                piece = b""
        if piece:
            partial[serial] = piece
        at = start


def _last_granule(fh) -> dict[int, int] | None:
    # {serial: granule position} of the last pages in the file's final 64 KiB (the stream's
    # exact end, RFC 7845 4.4); None when no complete page is there. Leaves fh at the start.
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(size - (1 << 16), 0))
    tail = fh.read()
    fh.seek(0)
    found: dict[int, int] = {}
    at = tail.find(b"OggS")
    while at >= 0 and at + 27 <= len(tail):
        granule, serial = struct.unpack_from("<qI", tail, at + 6)
        nseg = tail[at + 26]
        end = at + 27 + nseg + sum(tail[at + 27 : at + 27 + nseg])
        if end <= len(tail) and granule >= 0:
            found[serial] = granule
        at = tail.find(b"OggS", at + 4)
    return found or None


# ---------------------------------------------------------------- FFmpeg in process (PyAV)
@functools.cache
def _av():
    try:
        import av
    except ImportError:
        return None
    return av


def _av_errors() -> tuple[type[BaseException], ...]:
    av = _av()
    return (av.FFmpegError,) if av is not None else ()


def decode_av(
    path: str | os.PathLike, sr: int, quality: str = "MQ", max_seconds: float | None = None
) -> np.ndarray | None:
    """Any format FFmpeg reads to mono at ``sr``: its decoder at the file's rate, in blocks
    (:func:`av_blocks`) that soxr resamples as they come."""
    if _av() is None:
        return None
    out: MonoSink | None = None
    for rate, block in av_blocks(path):
        if out is None:
            limit = None if max_seconds is None else int(max_seconds * rate)
            out = MonoSink(rate, sr, quality, limit=limit)
        out.add(block)  # the sink copies
        if out.full:
            break
    if out is None:
        raise DecodeError("no audio frames")
    return out.finish()


def av_blocks(path: str | os.PathLike):
    """``(rate, mono float32 block)`` of the file, ``BLOCK`` samples at a time, by FFmpeg.

    The file is read by FFmpeg's ``amovie`` source in a filter graph whose sink hands out
    blocks of float32 planar samples: demuxing, decoding and the conversion of integer
    formats (FLAC, ALAC, PCM) to float all run in C, with no Python object per packet or
    frame (that per-frame work cost a quarter of the CPU of Vorbis and AAC: BENCHMARKS.md).
    The samples are the decoder's, as ``container.decode`` gives them; each block is the
    mean of the channels. A block is reused for the next one: copy what you keep.
    """
    av = _av()
    graph = av.filter.Graph()
    graph.threads = 1  # audio filters do not thread: no worker threads per file
    # options as a dictionary: no escaping of the file name (":", ",", "'"); an FFmpeg
    # without the movie source, or a file it cannot open, raises ValueError (decode_mono
    # then takes the general path)
    source = graph.add("amovie", filename=os.fspath(path))
    sink = graph.add("abuffersink")
    graph.link_nodes(source, graph.add("aformat", sample_fmts="fltp"), sink)
    graph.configure()
    graph.set_audio_frame_size(BLOCK)
    pull, mix = sink.pull, np.empty(BLOCK, dtype=np.float32)
    rate = channels = 0
    while True:
        try:
            frame = pull()
        except EOFError:  # av.EOFError is one: the end of the file
            return
        planes, n = frame.planes, frame.samples
        if not channels:
            rate, channels = int(frame.sample_rate), len(planes)
        elif frame.sample_rate != rate or len(planes) != channels:
            raise DecodeError("the sample rate or the channels change inside the file")
        block = _sum_planes(planes, n, mix[:n])
        if channels > 1:  # the mean, summed then divided: as audio._mix_to_mono
            block /= np.float32(channels)
        yield rate, block


def _sum_planes(planes, n: int, out: np.ndarray) -> np.ndarray:
    # out = the sum of ``n`` float32 samples of each plane, in channel order
    np.copyto(out, np.frombuffer(planes[0], dtype=np.float32, count=n))
    for plane in planes[1:]:
        np.add(out, np.frombuffer(plane, dtype=np.float32, count=n), out=out)
    return out
