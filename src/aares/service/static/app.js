// The aares page: record or pick a file, identify it, then show its genre set and a playlist.
// Plain JavaScript, no build step. Every server error is shown as the sentence it carries.
"use strict";

const RECORD_SECONDS = 8;
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// fetch + JSON; a failed request becomes an ApiError with the server's sentence.
async function api(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(0, "The service cannot be reached: check the connection and try again.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : "";
    throw new ApiError(response.status, detail || `The service answered ${response.status} ${response.statusText}.`);
  }
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setStatus(id, text, isError) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", Boolean(isError));
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// -- WAV encoding (16-bit PCM, mono) ----------------------------------------------------------
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([buffer], { type: "audio/wav" });
}

// -- recording ---------------------------------------------------------------------------------
async function record(seconds) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new ApiError(0, "This browser cannot record here (the page needs https or localhost). Choose a file instead.");
  }
  let stream;
  try {
    // The browser's voice processing is tuned for speech and smears music: all off.
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
  } catch (err) {
    const denied = err && (err.name === "NotAllowedError" || err.name === "SecurityError");
    throw new ApiError(0, denied
      ? "The microphone was not allowed: allow it for this page, or choose a file instead."
      : "No microphone could be opened: plug one in, or choose a file instead.");
  }
  const context = new AudioContext();
  try {
    await context.audioWorklet.addModule("/static/recorder-worklet.js");
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "recorder", {
      channelCount: 1, channelCountMode: "explicit", channelInterpretation: "speakers",
    });
    const mute = context.createGain();
    mute.gain.value = 0; // keep the graph pulled without playing the microphone back
    const blocks = [];
    let total = 0;
    const want = Math.round(seconds * context.sampleRate);
    const done = new Promise((resolve) => {
      node.port.onmessage = (event) => {
        const block = event.data;
        blocks.push(block);
        total += block.length;
        let sum = 0;
        for (let i = 0; i < block.length; i++) sum += block[i] * block[i];
        $("level").value = Math.min(1, Math.sqrt(sum / block.length) * 4);
        const left = Math.max(0, (want - total) / context.sampleRate);
        $("countdown").textContent = `${left.toFixed(1)} s left`;
        if (total >= want) resolve();
      };
    });
    source.connect(node).connect(mute).connect(context.destination);
    $("countdown").textContent = `${seconds.toFixed(1)} s left`;
    await done;
    source.disconnect();
    const samples = new Float32Array(total);
    let at = 0;
    for (const block of blocks) { samples.set(block, at); at += block.length; }
    return encodeWav(samples.subarray(0, want), context.sampleRate);
  } finally {
    stream.getTracks().forEach((t) => t.stop());
    context.close();
    $("level").value = 0;
  }
}

async function onListen() {
  const button = $("listen");
  button.disabled = true;
  setStatus("status", "Listening… hold the phone or laptop near the music.");
  try {
    const wav = await record(RECORD_SECONDS);
    $("countdown").textContent = "sent";
    await identify(wav, "recording.wav");
  } catch (err) {
    $("countdown").textContent = "ready";
    showError(err);
  } finally {
    button.disabled = false;
    if ($("countdown").textContent === "sent") $("countdown").textContent = "ready";
  }
}

// -- identification and what follows ----------------------------------------------------------
function showError(err) {
  setStatus("status", err.message || String(err), true);
}

async function identify(blob, name) {
  setStatus("status", "Identifying…");
  $("details").replaceChildren();
  const form = new FormData();
  form.append("file", blob, name);
  const answer = await api("/api/identify", { method: "POST", body: form });
  setStatus("status", `Answered in ${Math.round(answer.ms)} ms (${answer.seconds.toFixed(1)} s of audio analysed).`);
  const result = $("result");
  if (!answer.matches.length) {
    result.replaceChildren(
      el("p", { class: "nomatch" }, "No match."),
      el("p", { class: "hint" }, "Hold the microphone closer to the speaker, turn the music up, or record a longer excerpt. The song may also not be in the catalog."),
    );
    return;
  }
  const best = answer.matches[0];
  const others = answer.matches.slice(1).map((m) => `${m.title} (${Math.round(m.confidence * 100)} %)`);
  const parts = [
    el("p", { class: "song-title", "data-song-id": best.song_id }, best.title),
    el("p", {}, best.artist ? `by ${best.artist}` : "(no artist)"),
    el("p", { class: "facts" },
      `at ${clock(best.offset)} into the song · confidence ${(best.confidence * 100).toFixed(1)} %`
      + (Math.abs(best.speed - 1) > 0.001 ? ` · played at ${(best.speed * 100).toFixed(0)} % speed` : "")),
  ];
  if (others.length) parts.push(el("p", { class: "hint" }, `Also possible: ${others.join(", ")}`));
  result.replaceChildren(...parts);
  await showSpotify(best.song_id);
}

async function showSpotify(songId) {
  const details = $("details");
  let link;
  try {
    link = await api(`/api/songs/${songId}/spotify?limit=3`);
  } catch (err) {
    details.replaceChildren(el("p", { class: "hint" },
      err.status === 404 ? "Genre and playlist: " + err.message : err.message));
    return;
  }
  const row = link.matches[0];
  if (!row || row.score < 60) {
    details.replaceChildren(el("p", { class: "hint" }, "This song is not in the Spotify catalogue, so no genre or playlist."));
    return;
  }
  details.replaceChildren(
    el("h3", {}, "On Spotify"),
    el("p", {}, `${row.name} — ${row.artists.join(", ")}${row.year ? ` (${row.year})` : ""}`,
      el("span", { class: "hint" }, ` · title match ${Math.round(row.score)} / 100`)),
  );
  const genreBox = el("div", { id: "genre" }, el("p", { class: "hint" }, "Genre: working…"));
  const listBox = el("div", { id: "playlist" }, el("p", { class: "hint" }, "Playlist: working…"));
  details.append(genreBox, listBox);
  await Promise.all([showGenre(genreBox, row.features), showPlaylist(listBox, row.id)]);
}

async function showGenre(box, features) {
  try {
    const g = await api("/api/genre", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...features, eps: 0.05 }),
    });
    const items = g.genres.filter((x) => x.in_set || x.probability >= 0.02).slice(0, 10);
    box.replaceChildren(
      el("h3", {}, "Genre"),
      el("p", {}, `Set at ${Math.round(g.coverage * 100)} %: `, el("strong", {}, g.set.join(", ") || "(empty)")),
      el("ul", { class: "genres" }, ...items.map((x) => el("li", { class: x.in_set ? "in" : "out" },
        el("span", { class: "name" }, x.genre + (x.in_set ? "" : " (not in the set)")),
        el("span", { class: "bar", style: `width:${Math.max(2, Math.round(x.probability * 200))}px` }),
        el("span", {}, `${(x.probability * 100).toFixed(1)} %`)))),
      el("p", { class: "hint" }, g.guarantee + "."),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, "Genre: " + err.message));
  }
}

async function showPlaylist(box, id) {
  try {
    const p = await api(`/api/playlist?id=${encodeURIComponent(id)}&n=10`);
    box.replaceChildren(
      el("h3", {}, "Playlist"),
      el("ol", { class: "playlist" }, ...p.playlist.map((s) => el("li", {},
        `${s.name} — ${s.artists}${s.year ? ` (${s.year})` : ""}`,
        el("span", { class: "why" }, s.why)))),
    );
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, "Playlist: " + err.message));
  }
}

async function onFile(file) {
  if (!file) return;
  try {
    await identify(file, file.name);
  } catch (err) {
    showError(err);
  }
}

// -- the catalog -------------------------------------------------------------------------------
const PAGE = 20;
let offset = 0;

async function loadSongs() {
  const q = $("q").value.trim();
  try {
    const page = await api(`/api/songs?limit=${PAGE}&offset=${offset}&q=${encodeURIComponent(q)}`);
    const items = page.songs.map((s) => {
      const remove = el("button", { type: "button", "aria-label": `Remove ${s.title}` }, "Remove");
      remove.addEventListener("click", () => removeSong(s));
      return el("li", {}, el("span", {}, `${s.title}${s.artist ? " — " + s.artist : ""} (${clock(s.duration)})`), remove);
    });
    $("songs").replaceChildren(...items);
    const last = Math.min(page.total, offset + page.songs.length);
    $("catalog-count").textContent = page.total
      ? `${page.total} song${page.total === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}; showing ${offset + 1}–${last}.`
      : (q ? `No song matches “${q}”.` : "The catalog is empty.");
    $("prev").disabled = offset === 0;
    $("next").disabled = last >= page.total;
  } catch (err) {
    $("catalog-count").textContent = err.message;
  }
}

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function removeSong(song) {
  try {
    await api(`/api/songs/${song.id}`, { method: "DELETE", headers: authHeaders() });
    setStatus("catalog-status", `Removed “${song.title}”.`);
    await loadSongs();
  } catch (err) {
    $("add").parentElement.open = true;
    setStatus("catalog-status", err.message, true);
  }
}

async function onAdd(event) {
  event.preventDefault();
  const file = $("add-file").files[0];
  if (!file) {
    setStatus("catalog-status", "Choose the song's file first.", true);
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("title", $("add-title").value.trim());
  form.append("artist", $("add-artist").value.trim());
  setStatus("catalog-status", "Adding… (a whole song takes a few seconds)");
  try {
    const answer = await api("/api/songs", { method: "POST", headers: authHeaders(), body: form });
    setStatus("catalog-status", answer.added
      ? `Added “${answer.song.title}” as song ${answer.song.id}.`
      : `That audio is already in the catalog as “${answer.song.title}”.`);
    await loadSongs();
  } catch (err) {
    setStatus("catalog-status", err.message, true);
  }
}

// -- wiring ------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("listen").addEventListener("click", onListen);
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    onFile(file).finally(() => { e.target.value = ""; }); // the same file can be chosen again
  });
  const drop = $("drop");
  drop.addEventListener("keydown", (e) => {
    if (e.target === drop && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); $("file").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    onFile(e.dataTransfer.files[0]);
  });
  $("search").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; loadSongs(); });
  $("prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadSongs(); });
  $("next").addEventListener("click", () => { offset += PAGE; loadSongs(); });
  $("add").addEventListener("submit", onAdd);
  loadSongs();
});
