// ovsub's page: start a job, follow it, play the result with subtitles, download the files.
// It uses only the public REST API (/openapi.json), so anything it does a script can do as well.
"use strict";

const POLL_MS = 1000; // how often a running job is asked for its progress
const TOKEN_KEY = "ovsub-token"; // sessionStorage key: the token stays in this tab only
const STAGES = {
  queued: "Waiting for its turn",
  starting: "Loading the model",
  downloading: "Downloading the link",
  transcribing: "Transcribing",
  translating: "Translating to English",
  embedding: "Adding the subtitles to the video",
  done: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

const $ = (id) => document.getElementById(id);
const state = { token: null, config: null, file: null, jobId: null, timer: null, shown: null };

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// --- talking to the server ---------------------------------------------------------------------

function readToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete("token"); // keep it out of the address bar, history and screenshots
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}

// Media and track elements cannot send headers, so their URLs carry the token.
function withToken(path) {
  if (!state.token) return path;
  const url = new URL(path, location.href);
  url.searchParams.set("token", state.token);
  return url.pathname + url.search;
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", "Bearer " + state.token);
  const res = await fetch(path, { ...options, headers });
  if (!res.ok) {
    let detail = res.statusText;
    try {
      detail = (await res.json()).detail || detail;
    } catch (_) { /* not JSON */ }
    if (res.status === 401) askForToken();
    throw new ApiError(res.status, detail);
  }
  return res.status === 204 ? null : res.json();
}

function uploadJob(form) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    if (state.token) xhr.setRequestHeader("Authorization", "Bearer " + state.token);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      $("progress").value = e.loaded / e.total;
      $("status").textContent = `Uploading… ${Math.round((100 * e.loaded) / e.total)}%`;
    };
    xhr.onload = () => {
      if (xhr.status === 202) return resolve(xhr.response);
      if (xhr.status === 401) askForToken();
      reject(new ApiError(xhr.status, (xhr.response && xhr.response.detail) || xhr.statusText));
    };
    xhr.onerror = () => reject(new ApiError(0, "The upload was interrupted. Is the server still running?"));
    xhr.send(form);
  });
}

function askForToken() {
  $("token-panel").hidden = false;
  $("token-input").focus();
}

// --- the form ----------------------------------------------------------------------------------

function fillForm(config) {
  const language = $("language");
  for (const { code, name } of config.languages) {
    language.append(new Option(`${name} (${code})`, code));
  }
  const model = $("model");
  for (const name of config.models) {
    const english = config.english_only_models.includes(name);
    model.append(new Option(english ? `${name} (English only, faster)` : `${name} (multilingual)`, name));
  }
  model.value = config.default_model;
  $("file-info").textContent = `Any format FFmpeg reads, up to ${formatBytes(config.max_upload_bytes)}`;
  model.addEventListener("change", fitOptionsToModel);
  fitOptionsToModel();
}

// English-only models can neither translate nor hear other languages: offer only what works.
function fitOptionsToModel() {
  const englishOnly = state.config.english_only_models.includes($("model").value);
  const task = $("task");
  for (const option of task.options) option.disabled = englishOnly && option.value !== "transcribe";
  if (englishOnly) task.value = "transcribe";
  const language = $("language");
  for (const option of language.options) option.disabled = englishOnly && !["auto", "en"].includes(option.value);
  if (englishOnly && !["auto", "en"].includes(language.value)) language.value = "en";
  const hint = $("model-hint");
  hint.hidden = !englishOnly;
  hint.textContent = englishOnly ? "This model understands English only, so it cannot translate." : "";
}

function chooseFile(file) {
  state.file = file || null;
  const zone = $("drop-zone");
  zone.classList.toggle("chosen", Boolean(file));
  $("file-info").textContent = file
    ? `${file.name} · ${formatBytes(file.size)}`
    : `Any format FFmpeg reads, up to ${formatBytes(state.config.max_upload_bytes)}`;
  if (file) $("url").value = "";
  showFormError(null);
}

function setUpDropZone() {
  const zone = $("drop-zone");
  const input = $("file");
  input.addEventListener("change", () => chooseFile(input.files[0]));
  zone.addEventListener("click", (e) => {
    if (e.target.tagName !== "LABEL" && e.target !== input) input.click();
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      input.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (file) chooseFile(file);
  });
  $("url").addEventListener("input", () => {
    if ($("url").value.trim() && state.file) {
      input.value = "";
      chooseFile(null);
    }
  });
}

function showFormError(message) {
  const box = $("form-error");
  box.hidden = !message;
  box.textContent = message || "";
}

async function submitJob(event) {
  event.preventDefault();
  showFormError(null);
  const url = $("url").value.trim();
  if (!state.file && !url) return showFormError("Choose a file or paste a link first.");
  if (state.file && state.file.size > state.config.max_upload_bytes) {
    return showFormError(`This file is ${formatBytes(state.file.size)}; the server accepts up to ${formatBytes(state.config.max_upload_bytes)}.`);
  }
  const options = {};
  for (const id of ["task", "language", "model", "beam_size", "max_line_chars", "max_lines", "max_cps"]) {
    options[id] = $(id).value;
  }
  const start = $("start");
  start.disabled = true;
  try {
    let job;
    if (state.file) {
      const form = new FormData();
      for (const [key, value] of Object.entries(options)) form.append(key, value);
      form.append("file", state.file, state.file.name);
      showJobPanel({ name: state.file.name, state: "uploading" });
      job = await uploadJob(form);
    } else {
      job = await api("/api/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...options, url }),
      });
    }
    chooseFile(null);
    $("file").value = "";
    $("url").value = "";
    openJob(job.id, job);
  } catch (e) {
    $("job-panel").hidden = state.jobId === null;
    showFormError(e.message);
  } finally {
    start.disabled = false;
  }
}

// --- following a job ---------------------------------------------------------------------------

function showJobPanel(job) {
  $("job-panel").hidden = false;
  $("job-title").textContent = job.name;
  $("job-error").hidden = true;
  $("player").hidden = true;
  $("downloads").hidden = true;
  $("progress-box").hidden = false;
  $("progress").value = 0;
  $("status").textContent = job.state === "uploading" ? "Uploading…" : "";
  setBadge(job.state);
}

function setBadge(jobState) {
  const badge = $("job-state");
  badge.textContent = jobState;
  badge.className = "badge " + jobState;
}

function openJob(id, job) {
  clearTimeout(state.timer);
  state.jobId = id;
  state.shown = null;
  showJobPanel(job || { name: "…", state: "queued" });
  $("job-panel").scrollIntoView({ behavior: "smooth", block: "start" });
  if (job) render(job);
  poll();
}

async function poll() {
  const id = state.jobId;
  let job;
  try {
    job = await api(`/api/jobs/${id}`);
  } catch (e) {
    if (id !== state.jobId) return;
    if (e.status === 404) {
      $("job-error").hidden = false;
      $("job-error").textContent = e.message;
      $("progress-box").hidden = true;
      return loadJobs();
    }
    state.timer = setTimeout(poll, POLL_MS * 3); // the server may be restarting
    return;
  }
  if (id !== state.jobId) return;
  render(job);
  if (job.state === "queued" || job.state === "running") {
    state.timer = setTimeout(poll, POLL_MS);
  } else {
    loadJobs();
  }
}

function render(job) {
  $("job-title").textContent = job.name;
  setBadge(job.state);
  const active = job.state === "queued" || job.state === "running";
  $("progress-box").hidden = !active;
  $("cancel").disabled = !active;
  if (active) {
    $("progress").value = job.progress;
    $("status").textContent = describeProgress(job);
  }
  const error = $("job-error");
  error.hidden = !(job.state === "failed" || job.state === "cancelled");
  error.textContent = job.state === "failed" ? job.error : "This job was cancelled.";
  if (job.state === "done" && state.shown !== job.id) {
    state.shown = job.id;
    showPlayer(job);
    showDownloads(job);
  }
}

function describeProgress(job) {
  if (job.state === "queued") {
    const n = job.queue_position;
    return n && n > 1 ? `Waiting: ${n - 1} job(s) before this one` : "Waiting for a free worker";
  }
  let text = `${STAGES[job.stage] || job.stage}… ${Math.round(job.progress * 100)}%`;
  if (job.eta_s !== null && job.eta_s !== undefined) text += ` · about ${formatDuration(job.eta_s)} left`;
  return text;
}

async function cancelJob() {
  if (!state.jobId) return;
  $("cancel").disabled = true;
  try {
    render(await api(`/api/jobs/${state.jobId}/cancel`, { method: "POST" }));
  } catch (e) {
    $("status").textContent = e.message;
  }
}

// --- the result --------------------------------------------------------------------------------

function showPlayer(job) {
  const stage = $("stage");
  stage.replaceChildren();
  $("caption").hidden = true;
  $("track-choice").hidden = true;
  if (!job.media) return;
  const isVideo = job.media.kind === "video";
  const player = document.createElement(isVideo ? "video" : "audio");
  player.id = isVideo ? "player-video" : "player-audio";
  player.controls = true;
  player.preload = "auto";
  player.src = withToken(job.media.url);
  job.results.forEach((result, i) => {
    const track = document.createElement("track");
    track.kind = "subtitles";
    track.label = result.label;
    track.srclang = result.language || "und";
    track.src = withToken(result.files.vtt);
    if (i === 0) track.default = true;
    player.append(track);
  });
  stage.append(player);
  $("player").hidden = false;
  if (isVideo) chooseVideoTrack(player, job);
  else followCaptions(player, job);
}

// With two tracks (transcription and translation) offer the choice beside the player as well as
// in the video's own menu.
function chooseVideoTrack(player, job) {
  const select = $("track-select");
  select.replaceChildren(...job.results.map((r, i) => new Option(r.label, String(i))), new Option("Off", "off"));
  $("track-choice").hidden = job.results.length < 2;
  select.onchange = () => {
    Array.from(player.textTracks).forEach((track, i) => {
      track.mode = String(i) === select.value ? "showing" : "disabled";
    });
  };
  player.textTracks.addEventListener("change", () => { // the video's own captions menu was used
    const showing = Array.from(player.textTracks).findIndex((t) => t.mode === "showing");
    select.value = showing < 0 ? "off" : String(showing);
  });
}

// An <audio> element draws no captions: show the active cue of the chosen track below it.
function followCaptions(player, job) {
  const caption = $("caption");
  const select = $("track-select");
  caption.hidden = false;
  caption.textContent = "";
  select.replaceChildren(...job.results.map((r, i) => new Option(r.label, String(i))));
  $("track-choice").hidden = job.results.length < 2;
  const show = () => {
    const chosen = Number(select.value || 0);
    Array.from(player.textTracks).forEach((track, i) => {
      track.mode = i === chosen ? "hidden" : "disabled";
      track.oncuechange = i === chosen ? () => {
        const cues = Array.from(track.activeCues || []);
        caption.textContent = cues.map((c) => c.getCueAsHTML().textContent).join("\n");
      } : null;
    });
    caption.textContent = "";
  };
  select.onchange = show;
  show();
}

function showDownloads(job) {
  const list = $("download-list");
  list.replaceChildren();
  for (const result of job.results) {
    const item = document.createElement("li");
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = `${result.label} · ${result.cues} subtitle${result.cues === 1 ? "" : "s"}`;
    const files = document.createElement("span");
    files.className = "files";
    for (const [format, url] of Object.entries(result.files)) {
      files.append(downloadLink(format.toUpperCase(), url + "?download=1", format));
    }
    item.append(what, files);
    list.append(item);
  }
  if (job.video_url) {
    const item = document.createElement("li");
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = "Video with subtitle tracks";
    const files = document.createElement("span");
    files.className = "files";
    files.append(downloadLink("Download video", job.video_url, "video"));
    item.append(what, files);
    list.append(item);
  }
  const note = $("video-note");
  note.hidden = !(job.media && job.media.kind === "video" && !job.video_url);
  note.textContent = job.video_error ? `No video with subtitles: ${job.video_error}` : "";
  $("downloads").hidden = false;
}

function downloadLink(text, url, format) {
  const a = document.createElement("a");
  a.href = withToken(url);
  a.textContent = text;
  a.dataset.format = format;
  a.setAttribute("download", "");
  return a;
}

// --- recent jobs -------------------------------------------------------------------------------

async function loadJobs() {
  let jobs;
  try {
    jobs = (await api("/api/jobs")).jobs;
  } catch (_) {
    return;
  }
  const list = $("job-list");
  list.replaceChildren(...jobs.map(jobItem));
  $("no-jobs").hidden = jobs.length > 0;
}

function jobItem(job) {
  const item = document.createElement("li");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  open.textContent = job.name;
  open.addEventListener("click", () => openJob(job.id));
  const when = document.createElement("span");
  when.className = "when";
  when.textContent = new Date(job.created_at * 1000).toLocaleString();
  const badge = document.createElement("span");
  badge.className = "badge " + job.state;
  badge.textContent = job.state;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "quiet";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${job.name}`);
  remove.addEventListener("click", async () => {
    try {
      await api(`/api/jobs/${job.id}`, { method: "DELETE" });
    } catch (_) { /* already gone */ }
    if (state.jobId === job.id) {
      clearTimeout(state.timer);
      state.jobId = null;
      $("job-panel").hidden = true;
      $("stage").replaceChildren();
    }
    loadJobs();
  });
  item.append(open, badge, when, remove);
  return item;
}

// --- small helpers -----------------------------------------------------------------------------

function formatBytes(n) {
  const units = [["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]];
  for (const [unit, size] of units) if (n >= size) return `${(n / size).toFixed(n >= 10 * size ? 0 : 1)} ${unit}`;
  return `${n} bytes`;
}

function formatDuration(seconds) {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

// --- start -------------------------------------------------------------------------------------

async function main() {
  readToken();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token-panel").hidden = true;
    loadJobs();
  });
  try {
    state.config = await api("/api/config");
  } catch (e) {
    return showFormError(`Cannot reach the server: ${e.message}`);
  }
  if (state.config.token_required && !state.token) askForToken();
  fillForm(state.config);
  setUpDropZone();
  $("job-form").addEventListener("submit", submitJob);
  $("cancel").addEventListener("click", cancelJob);
  $("refresh").addEventListener("click", loadJobs);
  loadJobs();
}

main();
