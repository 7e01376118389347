// stylecast page: camera -> WebRTC -> server (stylize) -> video back, controls over a data channel.
// One script for both pages: body[data-role] is "send" (index) or "view" (OBS viewer, recvonly).
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const $ = (id) => document.getElementById(id);

// Exposed for tests and debugging: the connection, the last server state, the live numbers.
const app = (window.stylecast = {
  pc: null, channel: null, state: null, stats: { fps: 0, rtt: null }, captions: [], maxPictureBytes: 16e6,
});

function setStatus(text, kind) {
  const pill = $("status");
  pill.textContent = text;
  pill.className = "pill" + (kind ? " " + kind : "") + (document.body.classList.contains("viewer") ? " viewer-status" : "");
}

function showError(text) {
  const box = $("error");
  if (box) { box.textContent = text; box.hidden = !text; }
}

function headers(type = "application/json") {
  const h = { "Content-Type": type };
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
  // blends mix the pictures styles were made from: only styles with one are offered
  const blendable = styles.filter((style) => style.blendable).map((style) => style.name);
  for (const [id, fallback] of [["blend-a", 0], ["blend-b", 1]]) {
    const select = $(id);
    const kept = select.value;
    select.replaceChildren(...blendable.map((name) => new Option(name, name)));
    select.value = blendable.includes(kept) ? kept : blendable[Math.min(fallback, blendable.length - 1)] ?? "";
    select.disabled = blendable.length < 2;
  }
  $("blend").disabled = blendable.length < 2;
  if (app.state) applyState(app.state);
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
  $("keep-colours").checked = state.keep_colours;
  $("apply").value = state.apply;
  // the blend controls follow the last blend; after a plain pick they start from the style picked
  const blend = $("blend");
  const [a, b] = [$("blend-a"), $("blend-b")];
  const known = (select, name) => [...select.options].some((option) => option.value === name);
  if (state.blend) {
    if (known(a, state.blend.a)) a.value = state.blend.a;
    if (known(b, state.blend.b)) b.value = state.blend.b;
  } else if (known(a, state.style)) {
    a.value = state.style;
    if (b.value === a.value && b.options.length > 1) b.value = [...b.options].find((o) => o.value !== a.value).value;
  }
  if (document.activeElement !== blend) blend.value = state.blend ? Math.round(state.blend.value * 100) : 0;
  $("blend-value").textContent = `${blend.value}%`;
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
  } else if (message.type === "styles") renderStyles(message.styles);
  else if (message.type === "caption") showCaption(message);
  else if (message.type === "error") {
    showError(message.message);
    if (app.state) $("apply").value = app.state.apply; // a refused change leaves the control where the stream is
  }
}

function wireControls() {
  const strength = $("strength");
  strength.addEventListener("input", () => {
    $("strength-value").textContent = `${strength.value}%`;
    send({ type: "strength", value: Number(strength.value) / 100 });
  });
  $("style-enabled").addEventListener("change", (e) => send({ type: "style_enabled", value: e.target.checked }));
  $("keep-colours").addEventListener("change", (e) => send({ type: "keep_colours", value: e.target.checked }));
  $("apply").addEventListener("change", (e) => send({ type: "apply", value: e.target.value }));
  wireBlend();
  wirePicture();
  $("captions-enabled").addEventListener("change", (e) => {
    send({ type: "captions", value: e.target.checked });
    if (!e.target.checked) $("captions").replaceChildren();
  });
  if (token) $("viewer-link").href = `/viewer?token=${encodeURIComponent(token)}`;
}

// The blend slider sends at most one message every 150 ms while dragged, and the final value on release;
// the server drops a switch a newer one has overtaken, so only the latest position is ever made.
function wireBlend() {
  const blend = $("blend");
  let timer = null;
  const sendBlend = () => {
    clearTimeout(timer);
    timer = null;
    send({ type: "blend", a: $("blend-a").value, b: $("blend-b").value, value: Number(blend.value) / 100 });
  };
  blend.addEventListener("input", () => {
    $("blend-value").textContent = `${blend.value}%`;
    if (timer === null) timer = setTimeout(sendBlend, 150);
  });
  blend.addEventListener("change", sendBlend);
  $("blend-a").addEventListener("change", sendBlend);
  $("blend-b").addEventListener("change", sendBlend);
}

function styleMessage(text, kind) {
  const box = $("style-message");
  box.textContent = text;
  box.className = "notice" + (kind ? " " + kind : "");
  box.hidden = !text;
}

// Your own picture as the style: the file picker, or a picture dropped anywhere on the page.
async function uploadPicture(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { styleMessage(`${file.name} is not a picture`, "error"); return; }
  if (file.size > app.maxPictureBytes) {
    styleMessage(`${file.name} is larger than ${app.maxPictureBytes / 1e6} MB: use a smaller picture`, "error");
    return;
  }
  styleMessage(`Making a style of ${file.name}…`);
  try {
    const response = await fetch("/style-image", { method: "POST", headers: headers(file.type), body: file });
    if (!response.ok) throw new Error((await response.text()).trim() || `the server said ${response.status}`);
    const answer = await response.json();
    renderStyles(answer.styles);
    styleMessage(`Style ${answer.style}: made from ${file.name}`, "done");
  } catch (error) {
    styleMessage(error.message, "error"); // the stream keeps the style it had
  }
}

function wirePicture() {
  const input = $("style-file");
  input.addEventListener("change", () => { uploadPicture(input.files[0]); input.value = ""; });
  const carriesFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  let depth = 0; // dragenter/dragleave fire for every element crossed
  addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    document.body.classList.add("dragging");
  });
  addEventListener("dragleave", (event) => {
    if (carriesFiles(event) && --depth <= 0) { depth = 0; document.body.classList.remove("dragging"); }
  });
  addEventListener("dragover", (event) => {
    if (carriesFiles(event)) { event.preventDefault(); event.dataTransfer.dropEffect = "copy"; }
  });
  addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // not: open the picture in place of the page
    depth = 0;
    document.body.classList.remove("dragging");
    uploadPicture(event.dataTransfer.files[0]);
  });
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
  app.maxPictureBytes = data.max_picture_bytes;
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
