/* Careweave video visit: device check, waiting room, and a 1:1 WebRTC call.
 *
 * Signaling goes over the WebSocket /visits/{id}/ws (see careweave/visits/live.py for the messages).
 * The peer connection uses "perfect negotiation" (W3C WebRTC 1.0, section 10.7): both sides may send
 * offers; the patient is the polite peer and rolls back on a collision, the clinician is impolite.
 * Media flows browser to browser (DTLS-SRTP); the server only relays these small messages.
 * No dependencies, no inline script (the page's Content-Security-Policy forbids it).
 */
(function () {
  "use strict";

  const root = document.getElementById("visit");
  if (!root) return;

  const side = root.dataset.side;
  const polite = side === "patient";
  const peerName = root.dataset.peerName || "The other person";
  let iceServers = [];
  try {
    iceServers = JSON.parse(root.dataset.iceServers || "[]");
  } catch (err) {
    iceServers = [];
  }

  const $ = (id) => document.getElementById(id);
  const ui = {
    stage: $("stage-status"),
    conn: $("conn-status"),
    call: $("call-status"),
    local: $("local-video"),
    remote: $("remote-video"),
    playRemote: $("play-remote"),
    device: $("device-status"),
    meter: $("mic-level"),
    cameraSelect: $("camera-select"),
    micSelect: $("mic-select"),
    admit: $("admit"),
    waiting: $("waiting-status"),
    mute: $("mute"),
    camera: $("camera"),
    leave: $("leave"),
    end: $("end"),
    error: $("visit-error"),
    ended: $("visit-ended"),
    endedMessage: $("visit-ended-message"),
  };

  let ws = null;
  let opened = false;
  let failures = 0;
  let myState = null; // "waiting" | "in_call"
  let peer = { cid: null, state: null }; // the other side: "waiting" | "in_call" | "left"
  let stream = null;
  let pc = null;
  let pcPeer = null;
  let makingOffer = false;
  let ignoreOffer = false;
  let stopped = false;
  let admitting = false;
  let inbox = Promise.resolve(); // messages are handled one at a time, in order
  let audioCtx = null;
  let analyser = null;
  let pinger = null;
  let stallTimer = null;
  let restarts = 0;
  // Which peer connection a signal belongs to: the clinician's side counts up at each restart and every
  // signal carries the count, so a late answer or candidate of a replaced connection is dropped, never
  // applied to the new one. Back to 0 when the other person's connection changes (a reload, a new device).
  let epoch = 0;
  // A call not connected this long after it started (or last started over) starts over: the clinician's side
  // makes a new peer connection and asks the patient's side to do the same (a "restart" signal), so a
  // negotiation that went wrong — lost candidates, an offer answered by neither side — cannot leave both
  // people looking at a black video. The wait grows with each try (STALL_MS, twice it, then three times).
  const STALL_MS = 10000;

  // A short trace of the call's events (message types and connection states only: never SDP, candidates
  // or credentials), kept for support and read by the browser tests when a call does not connect.
  const trace = [];
  const started = performance.now();
  function note(event, detail) {
    trace.push(`${Math.round(performance.now() - started)}ms ${event}${detail ? " " + detail : ""}`);
    if (trace.length > 200) trace.shift();
  }
  window.careweaveVisit = {
    trace,
    peerConnection: () =>
      pc && {
        connection: pc.connectionState,
        ice: pc.iceConnectionState,
        gathering: pc.iceGatheringState,
        signaling: pc.signalingState,
      },
  };

  function setText(el, text) {
    if (el) el.textContent = text;
  }

  function showError(text) {
    if (!ui.error) return;
    ui.error.textContent = text || "";
    ui.error.hidden = !text;
  }

  // ------------------------------------------------------------------ camera and microphone

  function mediaProblem(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError")
      return "Your browser did not allow the camera and microphone. Allow them for this site (the camera icon in the address bar), then reload the page.";
    if (name === "NotFoundError" || name === "OverconstrainedError")
      return "No camera or microphone was found. Connect one and reload the page; you can still join and see and hear the other person.";
    if (name === "NotReadableError")
      return "The camera or microphone is in use by another program. Close it and reload the page.";
    return "The camera and microphone could not be started. Reload the page to try again.";
  }

  async function startMedia() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setText(ui.device, "This browser cannot use a camera here. Use a current Chrome, Edge, Firefox or Safari.");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: { echoCancellation: true, noiseSuppression: true },
      });
    } catch (err) {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true }); // no camera: sound only
        setText(ui.device, "No camera is available: the other person will hear you but not see you.");
      } catch (err2) {
        stream = null;
        setText(ui.device, mediaProblem(err));
        return;
      }
    }
    ui.local.srcObject = stream;
    if (stream.getVideoTracks().length) {
      setText(ui.device, "Your camera and microphone are working. Check the preview and the microphone level.");
    }
    startMeter();
    await listDevices();
  }

  async function listDevices() {
    if (!navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    fill(ui.cameraSelect, devices.filter((d) => d.kind === "videoinput"), currentDevice("video"), "Camera");
    fill(ui.micSelect, devices.filter((d) => d.kind === "audioinput"), currentDevice("audio"), "Microphone");
  }

  function currentDevice(kind) {
    const track = stream && (kind === "video" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0]);
    return track && track.getSettings ? track.getSettings().deviceId : null;
  }

  function fill(select, devices, selected, fallback) {
    if (!select) return;
    select.replaceChildren();
    devices.forEach((device, i) => {
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || `${fallback} ${i + 1}`;
      option.selected = device.deviceId === selected;
      select.append(option);
    });
    select.disabled = devices.length < 2;
  }

  async function switchDevice(kind, deviceId) {
    if (!stream || !deviceId) return;
    try {
      const fresh = await navigator.mediaDevices.getUserMedia(
        kind === "video" ? { video: { deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } }
      );
      const track = fresh.getTracks()[0];
      const old = kind === "video" ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
      if (old) {
        track.enabled = old.enabled;
        stream.removeTrack(old);
        old.stop();
      }
      stream.addTrack(track);
      ui.local.srcObject = stream;
      if (pc) {
        const sender = pc.getSenders().find((s) => s.track && s.track.kind === kind);
        if (sender) await sender.replaceTrack(track);
      }
      if (kind === "audio") startMeter();
    } catch (err) {
      showError(mediaProblem(err));
    }
  }

  function startMeter() {
    const tracks = stream ? stream.getAudioTracks() : [];
    if (!tracks.length || !window.AudioContext) return;
    try {
      audioCtx = audioCtx || new AudioContext();
      const source = audioCtx.createMediaStreamSource(new MediaStream(tracks));
      const next = audioCtx.createAnalyser();
      next.fftSize = 512;
      source.connect(next);
      const first = analyser === null;
      analyser = next;
      if (first) requestAnimationFrame(tickMeter);
    } catch (err) {
      analyser = null;
    }
  }

  function tickMeter() {
    if (stopped || !analyser || !ui.meter) return;
    const samples = new Uint8Array(analyser.fftSize);
    analyser.getByteTimeDomainData(samples);
    let peak = 0;
    for (const v of samples) peak = Math.max(peak, Math.abs(v - 128) / 128);
    ui.meter.value = Math.min(1, peak * 1.5);
    requestAnimationFrame(tickMeter);
  }

  // ------------------------------------------------------------------ the WebSocket

  function signalKind(data) {
    if (!data) return "";
    if (data.description) return ":" + data.description.type;
    if (!data.candidate) return "";
    // the candidate's type and whether its address is an mDNS name (never the address itself)
    const text = data.candidate.candidate || "";
    const type = (text.match(/ typ (\w+)/) || [])[1] || "end";
    return `:candidate ${type}${/\.local /.test(text) ? " mdns" : ""}`;
  }

  function send(message) {
    const open = ws && ws.readyState === WebSocket.OPEN;
    if (message.type !== "ping")
      note(open ? "send" : "not sent", message.type + (message.type === "signal" ? signalKind(message.data) : ""));
    if (open) ws.send(JSON.stringify(message));
  }

  function signal(data) {
    send({ type: "signal", data: { ...data, epoch } });
  }

  function newPeer() {
    epoch = 0;
    restarts = 0;
  }

  function connect() {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + root.dataset.wsPath);
    ws = socket;
    opened = false;
    setText(ui.conn, failures ? "reconnecting…" : "connecting…");
    socket.onopen = () => {
      opened = true;
      failures = 0;
      setText(ui.conn, "connected");
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      if (message.type !== "pong")
        note("recv", message.type + (message.type === "signal" ? signalKind(message.data) : "") + (message.state ? ":" + message.state : ""));
      inbox = inbox.then(() => handle(message)).catch((err) => console.error("visit:", err));
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      if (stopped) return;
      closePc();
      newPeer();
      peer = { cid: null, state: null };
      render();
      if (event.code >= 4000) {
        stop("The visit connection was closed. Reload the page to come back in.");
        return;
      }
      failures += 1;
      if (!opened && failures >= 4) {
        stop("Could not connect to the visit. Check your internet connection and reload the page.");
        return;
      }
      setText(ui.conn, "lost; reconnecting…");
      setTimeout(connect, Math.min(10000, 500 * 2 ** failures));
    };
  }

  async function handle(message) {
    switch (message.type) {
      case "welcome":
        myState = message.state;
        break;
      case "peer":
        if (message.state === "left") {
          if (message.cid === peer.cid) {
            closePc();
            newPeer();
            peer = { cid: null, state: "left" };
          }
        } else {
          if (message.cid !== peer.cid) {
            if (peer.cid) closePc(); // they came back on a new connection
            newPeer();
          }
          peer = { cid: message.cid, state: message.state };
        }
        break;
      case "admitted":
        if (side === "patient") send({ type: "join" });
        break;
      case "joined":
        myState = "in_call";
        break;
      case "signal":
        await onSignal(message);
        break;
      case "error":
        admitting = false;
        showError(message.message);
        break;
      case "closed":
      case "replaced":
        stop(message.message || "The visit has ended.");
        return;
      default:
        break;
    }
    render();
    maybeStartCall();
  }

  // ------------------------------------------------------------------ the call

  function maybeStartCall() {
    if (!stopped && myState === "in_call" && peer.state === "in_call" && peer.cid) ensurePc();
  }

  function ensurePc() {
    if (pc && pcPeer === peer.cid) return;
    closePc();
    const conn = new RTCPeerConnection({ iceServers });
    pc = conn;
    pcPeer = peer.cid;
    const kinds = new Set();
    if (stream) {
      for (const track of stream.getTracks()) {
        conn.addTrack(track, stream);
        kinds.add(track.kind);
      }
    }
    for (const kind of ["audio", "video"]) {
      if (!kinds.has(kind)) conn.addTransceiver(kind, { direction: "recvonly" });
    }
    note("pc created", `tracks ${stream ? stream.getTracks().length : 0}`);
    conn.ontrack = (event) => {
      if (pc !== conn) return;
      note("track", event.track.kind);
      const remote = event.streams[0] || new MediaStream([event.track]);
      if (ui.remote.srcObject !== remote) {
        ui.remote.srcObject = remote;
        playRemote();
      }
    };
    conn.onicecandidate = (event) => {
      if (pc === conn && event.candidate) signal({ candidate: event.candidate.toJSON() });
    };
    conn.oniceconnectionstatechange = () => {
      if (pc === conn) note("ice", conn.iceConnectionState);
    };
    conn.onsignalingstatechange = () => {
      if (pc === conn) note("signaling", conn.signalingState);
    };
    conn.onnegotiationneeded = async () => {
      if (pc !== conn) return;
      note("negotiation needed", conn.signalingState);
      if (polite && !conn.remoteDescription) {
        // The patient's side answers the clinician's first offer instead of offering too. Two first offers
        // collide, the patient's side rolls its own back, and Chromium can then answer without ever gathering
        // candidates for it: both connections stay "new" (seen in CI, and after every restart in the browser
        // test). Once the first exchange is done, either side may offer (perfect negotiation).
        note("negotiation deferred", "the clinician's side offers first");
        return;
      }
      try {
        makingOffer = true;
        await conn.setLocalDescription();
        if (pc === conn) signal({ description: conn.localDescription.toJSON() }); // not replaced meanwhile
      } catch (err) {
        note("negotiation failed", err && err.name);
        console.error("visit: negotiation", err);
      } finally {
        if (pc === conn) makingOffer = false;
      }
    };
    conn.onconnectionstatechange = () => {
      if (pc !== conn) return;
      note("connection", conn.connectionState);
      if (conn.connectionState === "connected") {
        clearTimeout(stallTimer);
        restarts = 0;
      } else if (conn.connectionState === "failed") {
        conn.restartIce();
        watchForStall(conn);
      } else if (conn.connectionState === "disconnected") {
        watchForStall(conn);
      }
      render();
    };
    watchForStall(conn);
    render();
  }

  function watchForStall(conn) {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => onStall(conn), STALL_MS * Math.min(3, restarts + 1));
  }

  function onStall(conn) {
    if (pc !== conn || stopped || conn.connectionState === "connected") return;
    note("stalled", `${conn.connectionState}, ${conn.signalingState}`);
    if (polite) {
      watchForStall(conn); // the clinician's side starts the call over
      return;
    }
    if (conn.connectionState === "connecting" && !conn.careweaveWaited) {
      conn.careweaveWaited = true; // checks are under way (a slow relay, say): one more wait before starting over
      watchForStall(conn);
      return;
    }
    restarts += 1;
    epoch += 1;
    signal({ restart: {} });
    closePc();
    ensurePc();
  }

  async function onSignal(message) {
    if (myState !== "in_call") {
      note("signal dropped", `not in the call (${myState})`);
      return;
    }
    if (message.from !== peer.cid) {
      if (peer.cid) closePc();
      newPeer();
      peer = { cid: message.from, state: "in_call" };
    }
    const data = message.data || {};
    const theirs = Number.isInteger(data.epoch) ? data.epoch : epoch;
    if (data.restart || (polite && theirs > epoch)) {
      // the clinician's side started over (its restart signal, or — should that be lost — a newer signal)
      note("restart", "asked by the other side");
      epoch = theirs;
      closePc();
      ensurePc();
      if (data.restart) return;
    } else if (theirs !== epoch) {
      note("stale signal", `epoch ${theirs}, now ${epoch}`);
      return;
    }
    ensurePc();
    const conn = pc;
    try {
      if (data.description) {
        const description = data.description;
        const collision = description.type === "offer" && (makingOffer || conn.signalingState !== "stable");
        ignoreOffer = !polite && collision;
        if (ignoreOffer) {
          note("offer ignored", "collision");
          return;
        }
        await conn.setRemoteDescription(description);
        if (description.type === "offer" && pc === conn) {
          await conn.setLocalDescription();
          if (pc === conn) signal({ description: conn.localDescription.toJSON() });
        }
      } else if (data.candidate) {
        try {
          await conn.addIceCandidate(data.candidate);
        } catch (err) {
          // a candidate of an offer this side ignored, or of a connection the other side has since replaced
          note("candidate refused", err && err.name);
        }
      }
    } catch (err) {
      note("signal failed", err && err.name);
      console.error("visit: signal", err);
    }
  }

  function playRemote() {
    const attempt = ui.remote.play();
    if (attempt && attempt.catch) {
      attempt.then(
        () => {
          note("playing");
          if (ui.playRemote) ui.playRemote.hidden = true;
        },
        (err) => {
          note("play refused", err && err.name);
          // autoplay refused: one click starts it (an AbortError only means a newer stream replaced this one)
          if (ui.playRemote && err && err.name === "NotAllowedError") ui.playRemote.hidden = false;
        }
      );
    }
  }

  function closePc() {
    clearTimeout(stallTimer);
    if (pc) {
      const conn = pc;
      pc = null;
      note("pc closed");
      conn.ontrack = conn.onicecandidate = conn.onnegotiationneeded = conn.onconnectionstatechange = null;
      conn.oniceconnectionstatechange = conn.onsignalingstatechange = null;
      conn.close();
    }
    pcPeer = null;
    makingOffer = false;
    ignoreOffer = false;
    if (ui.remote) ui.remote.srcObject = null;
  }

  // ------------------------------------------------------------------ what the page says

  const CALL_STATES = {
    new: "starting",
    connecting: "connecting…",
    connected: "connected",
    disconnected: "interrupted; trying again…",
    failed: "could not connect; trying again…",
    closed: "ended",
  };

  function render() {
    const callState = pc ? pc.connectionState : "none";
    root.dataset.call = callState;
    root.dataset.state = myState || "";
    root.dataset.peer = peer.state || "";
    setText(ui.call, pc ? CALL_STATES[callState] || callState : "not started");

    let stage;
    if (myState === "waiting") {
      stage =
        peer.state === "in_call"
          ? `You are in the waiting room. ${peerName} is here and will let you in shortly.`
          : `You are in the waiting room. ${peerName} will let you in.`;
    } else if (myState === "in_call" && peer.state === "in_call") {
      stage = callState === "connected" ? `You are in the visit with ${peerName}.` : `Connecting you with ${peerName}…`;
    } else if (myState === "in_call") {
      stage =
        side === "clinician"
          ? peer.state === "waiting"
            ? `${peerName} is in the waiting room. Admit them when you are ready.`
            : peer.state === "left"
              ? `${peerName} left. They can come back while the room is open.`
              : `Waiting for ${peerName} to arrive.`
          : peer.state === "left"
            ? `${peerName} left the call. Please wait here.`
            : `Waiting for ${peerName} to join.`;
    } else {
      stage = "Getting the visit ready…";
    }
    setText(ui.stage, stage);

    if (ui.admit) {
      ui.admit.disabled = !(peer.state === "waiting") || admitting;
      if (peer.state !== "waiting") admitting = false;
    }
    if (ui.waiting) {
      setText(
        ui.waiting,
        peer.state === "waiting"
          ? `${peerName} is waiting.`
          : peer.state === "in_call"
            ? `${peerName} is in the visit.`
            : peer.state === "left"
              ? `${peerName} left.`
              : `${peerName} has not arrived yet.`
      );
    }
  }

  function stop(message) {
    if (stopped) return;
    stopped = true;
    closePc();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ws) {
      const socket = ws;
      ws = null;
      socket.close(1000);
    }
    if (pinger) clearInterval(pinger);
    if (audioCtx) audioCtx.close().catch(() => {});
    root.hidden = true;
    setText(ui.endedMessage, message);
    if (ui.ended) ui.ended.hidden = false;
  }

  // ------------------------------------------------------------------ controls

  function toggle(button, kind) {
    const pressed = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(pressed));
    const tracks = stream ? (kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks()) : [];
    tracks.forEach((track) => {
      track.enabled = !pressed;
    });
  }

  if (ui.mute) ui.mute.addEventListener("click", () => toggle(ui.mute, "audio"));
  if (ui.camera) ui.camera.addEventListener("click", () => toggle(ui.camera, "video"));
  if (ui.leave)
    ui.leave.addEventListener("click", () => {
      send({ type: "leave" });
      stop("You left the visit.");
    });
  if (ui.end)
    ui.end.addEventListener("click", () => {
      // the server answers "closed" (the page then ends) or an error (shown, the call goes on)
      if (!window.confirm(`End the visit for you and ${peerName}? It will be marked completed.`)) return;
      showError("");
      send({ type: "end" });
    });
  if (ui.admit)
    ui.admit.addEventListener("click", () => {
      admitting = true;
      showError("");
      render();
      send({ type: "admit" });
    });
  if (ui.playRemote)
    ui.playRemote.addEventListener("click", () => {
      playRemote();
    });
  if (ui.cameraSelect) ui.cameraSelect.addEventListener("change", () => switchDevice("video", ui.cameraSelect.value));
  if (ui.micSelect) ui.micSelect.addEventListener("change", () => switchDevice("audio", ui.micSelect.value));
  document.addEventListener("click", () => {
    if (audioCtx && audioCtx.state === "suspended") audioCtx.resume().catch(() => {});
  });
  window.addEventListener("pagehide", () => {
    if (ws) ws.close(1000);
  });

  render();
  startMedia().finally(() => {
    connect();
    pinger = setInterval(() => send({ type: "ping" }), 25000); // keeps idle proxies from closing the socket
  });
})();
