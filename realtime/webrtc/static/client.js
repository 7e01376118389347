// stylecast page: camera -> WebRTC -> server (stylize) -> video back, controls over a data channel.
// One script for both pages: body[data-role] is "send" (index) or "view" (OBS viewer, recvonly).
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const $ = (id) => document.getElementById(id);

// Exposed for tests and debugging: the connection, the last server state, the live numbers.
const app = (window.stylecast = { pc: null, channel: null, state: null, stats: { fps: 0, rtt: null }, captions: [] });

function setStatus(text, kind) {
  const pill = $("status");
  pill.textContent = text;
  pill.className = "pill" + (kind ? " " + kind : "") + (document.body.classList.contains("viewer") ? " viewer-status" : "");
}

function showError(text) {
  const box = $("error");
  if (box) { box.textContent = text; box.hidden = !text; }
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if (token) h["X-Stylecast-Token"] = token;
  return h;
}

// Wait until all ICE candidates are in the SDP (one request, no trickle; fast on a LAN).
function iceGatheringDone(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", check); resolve(); }
    };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000); // use what was gathered so far
  });
}

async function negotiate(pc, role) {
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringDone(pc);
  const response = await fetch("/offer", {
    method: "POST", headers: headers(),
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", role }),
  });
  if (!response.ok) throw new Error(`server refused the connection (${response.status}): ${await response.text()}`);
  await pc.setRemoteDescription(await response.json());
}

// Frames per second actually shown by a <video>, counted per painted frame.
function countFrames(video) {
  let frames = 0;
  let since = performance.now();
  const tick = () => {
    frames += 1;
    const now = performance.now();
    if (now - since >= 1000) {
      app.stats.fps = (frames * 1000) / (now - since);
      frames = 0; since = now;
      const out = $("stat-fps");
      if (out) out.textContent = app.stats.fps.toFixed(1);
    }
    video.requestVideoFrameCallback(tick);
  };
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) video.requestVideoFrameCallback(tick);
}

function watchConnection(pc, onLost) {
  pc.addEventListener("connectionstatechange", () => {
    const state = pc.connectionState;
    if (state === "connected") setStatus("live", "live");
    else if (state === "connecting" || state === "new") setStatus("connecting…", "warn");
    else if (state === "failed" || state === "disconnected" || state === "closed") { setStatus(state, "error"); onLost(); }
  });
}

// --- camera page ----------------------------------------------------------------------------

function send(message) {
  if (app.channel && app.channel.readyState === "open") app.channel.send(JSON.stringify(message));
}

function renderStyles(styles) {
  const grid = $("styles");
  grid.replaceChildren();
  for (const style of styles) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "style-card";
    button.dataset.style = style.name;
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.title = style.description || style.name;
    const thumb = document.createElement(style.preview ? "img" : "span");
    thumb.className = "thumb";
    if (style.preview) { thumb.src = style.preview; thumb.alt = ""; } else { thumb.textContent = style.name.slice(0, 2); }
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = style.name;
    button.append(thumb, label);
    button.addEventListener("click", () => send({ type: "style", name: style.name }));
    grid.append(button);
  }
}

function applyState(state) {
  app.state = state;
  for (const card of document.querySelectorAll(".style-card")) {
    const active = card.dataset.style === state.style;
    card.classList.toggle("active", active);
    card.setAttribute("aria-checked", String(active));
  }
  const strength = $("strength");
  if (document.activeElement !== strength) strength.value = Math.round(state.strength * 100);
  $("strength-value").textContent = `${Math.round(state.strength * 100)}%`;
  $("style-enabled").checked = state.style_enabled;
  const captions = $("captions-enabled");
  captions.checked = state.captions;
  captions.disabled = !state.captions_available;
  captions.parentElement.title = state.captions_available ? "" : "this server runs without a captioner";
}

function showCaption(caption) {
  app.captions.push(caption);
  const line = document.createElement("p");
  line.lang = caption.lang || "en";
  line.textContent = caption.text;
  const box = $("captions");
  box.append(line);
  while (box.children.length > 3) box.firstElementChild.remove();
}

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.type === "state") { showError(""); applyState(message); }
  else if (message.type === "pong") {
    app.stats.rtt = performance.now() - message.t;
    app.stats.server = message.server;
    $("stat-rtt").textContent = app.stats.rtt.toFixed(0);
    $("stat-stylize").textContent = message.server.stylize_ms.toFixed(0);
    $("stat-dropped").textContent = message.server.dropped ?? "–";
  } else if (message.type === "caption") showCaption(message);
  else if (message.type === "error") showError(message.message);
}

function wireControls() {
  const strength = $("strength");
  strength.addEventListener("input", () => {
    $("strength-value").textContent = `${strength.value}%`;
    send({ type: "strength", value: Number(strength.value) / 100 });
  });
  $("style-enabled").addEventListener("change", (e) => send({ type: "style_enabled", value: e.target.checked }));
  $("captions-enabled").addEventListener("change", (e) => {
    send({ type: "captions", value: e.target.checked });
    if (!e.target.checked) $("captions").replaceChildren();
  });
  if (token) $("viewer-link").href = `/viewer?token=${encodeURIComponent(token)}`;
}

// Camera size changes apply to the sending track in place: no renegotiation, the server follows.
function wireCameraSize(track, current) {
  const select = $("camera-size");
  if (![...select.options].some((o) => o.value === current)) select.add(new Option(current.replace("x", " × "), current));
  select.value = current;
  select.addEventListener("change", async () => {
    const [width, height] = select.value.split("x").map(Number);
    try {
      await track.applyConstraints({ width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } });
    } catch (error) {
      showError(`camera cannot do ${select.value}: ${error.message}`);
    }
  });
}

async function loadStyles() {
  const response = await fetch("/styles", { headers: headers() });
  if (!response.ok) throw new Error(`cannot list styles (${response.status})`);
  const data = await response.json();
  renderStyles(data.styles);
  applyState(data.state);
}

async function startSender() {
  wireControls();
  await loadStyles();
  const width = Number(params.get("w")) || 640;
  const height = Number(params.get("h")) || 480;
  setStatus("waiting for the camera…", "warn");
  let camera;
  try {
    camera = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } }, audio: false,
    });
  } catch (error) {
    const secure = window.isSecureContext ? "" : " (browsers only allow the camera on https:// or localhost)";
    throw new Error(`no camera: ${error.message}${secure}`);
  }
  $("camera").srcObject = camera;
  wireCameraSize(camera.getVideoTracks()[0], `${width}x${height}`);

  const pc = (app.pc = new RTCPeerConnection());
  const channel = (app.channel = pc.createDataChannel("control"));
  channel.addEventListener("message", onMessage);
  let pings = null;
  channel.addEventListener("open", () => {
    pings = setInterval(() => send({ type: "ping", t: performance.now() }), 1000);
  });
  channel.addEventListener("close", () => clearInterval(pings));
  for (const track of camera.getVideoTracks()) pc.addTrack(track, camera);
  const output = $("output");
  pc.addEventListener("track", (event) => {
    output.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  output.addEventListener("playing", () => { $("message").hidden = true; });
  output.addEventListener("resize", () => {
    if (output.videoWidth) output.parentElement.style.aspectRatio = `${output.videoWidth} / ${output.videoHeight}`;
  });
  countFrames(output);
  watchConnection(pc, () => {
    const message = $("message");
    message.hidden = false;
    message.replaceChildren("Disconnected. ");
    const again = document.createElement("button");
    again.className = "button";
    again.textContent = "Reconnect";
    again.addEventListener("click", () => location.reload());
    message.append(again);
  });
  setStatus("connecting…", "warn");
  $("message").textContent = "Connecting…";
  await negotiate(pc, "send");
  addEventListener("pagehide", () => pc.close());
}

// --- viewer page (OBS) ----------------------------------------------------------------------

async function startViewer() {
  const pc = (app.pc = new RTCPeerConnection());
  pc.addTransceiver("video", { direction: "recvonly" });
  const output = $("output");
  pc.addEventListener("track", (event) => { output.srcObject = new MediaStream([event.track]); });
  countFrames(output);
  watchConnection(pc, () => setTimeout(() => location.reload(), 3000)); // OBS keeps the page: come back by itself
  addEventListener("pagehide", () => pc.close());
  await negotiate(pc, "view");
}

const start = document.body.dataset.role === "view" ? startViewer : startSender;
start().catch((error) => {
  setStatus("error", "error");
  showError(error.message);
  const message = $("message");
  if (message) { message.hidden = false; message.textContent = error.message; }
  console.error(error);
  if (document.body.dataset.role === "view") setTimeout(() => location.reload(), 3000);
});
