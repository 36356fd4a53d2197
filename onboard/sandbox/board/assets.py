"""The board page's HTML frame, style and script. The frame holds no data; the script fetches state.json
and writes every value with textContent (never innerHTML), so a name or error a trainee made up stays
text. Big type and high contrast: it is read from the back of a lecture hall, off a projector."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Orientation board</title>
<link rel="stylesheet" href="/board/board.css">
<script src="/board/board.js" defer></script>
</head>
<body>
<header>
  <h1>Orientation board</h1>
  <div id="total" class="total"></div>
  <div id="status" class="status">connecting…</div>
</header>
<section id="login" hidden>
  <h2>This board is the instructor's</h2>
  <p>Open the link <code>onboard sandbox board --web</code> prints on the instructor's machine,
  or paste its token here.</p>
  <form id="login-form"><input id="token" type="password" autocomplete="off" aria-label="instructor token">
  <button type="submit">Open the board</button></form>
  <p id="login-error" class="err"></p>
</section>
<main id="board" hidden>
  <section id="room" class="room" aria-label="the room: trainees at each stage"></section>
  <p id="message" class="message" role="status"></p>
  <table id="trainees">
    <thead><tr><th>Trainee</th><th>Stage</th><th>Since</th><th>Waiting for</th><th>Last error</th>
    <th>Decide</th></tr></thead>
    <tbody></tbody>
  </table>
  <section id="iam-section" hidden><h2>IAM registrations waiting</h2>
  <table id="iam"><thead><tr><th>Account</th><th>E-mail</th><th>VO</th><th>Status</th><th>Decide</th></tr>
  </thead><tbody></tbody></table></section>
</main>
</body>
</html>
"""

STYLE = """
:root { color-scheme: dark; }
* { box-sizing: border-box; }
body { margin: 0; background: #000; color: #fff; font: 600 clamp(18px, 1.55vw, 44px)/1.3 "DejaVu Sans",
  "Liberation Sans", Arial, sans-serif; }
header { display: flex; align-items: baseline; gap: 1.2em; padding: .4em .8em; background: #111;
  border-bottom: 3px solid #fff; }
h1 { font-size: 1.6em; margin: 0; }
.total { font-size: 1.4em; color: #ffd43b; }
.status { margin-left: auto; font-size: .8em; color: #ccc; }
.room { display: flex; gap: .5em; padding: .6em .8em; }
.stage { flex: 1 1 0; min-width: 0; padding: .3em .5em; border: 3px solid currentColor; border-radius: .3em; }
.stage .count { font-size: 3.4em; line-height: 1; font-weight: 800; }
.stage .name { font-size: 1em; text-transform: uppercase; letter-spacing: .04em; }
.stage .time { font-size: .75em; color: #fff; }
.stage .bar { height: .4em; background: currentColor; margin-top: .2em; }
.s-certificate { color: #74c0fc; } .s-registered { color: #ffd43b; } .s-confirmed { color: #ff922b; }
.s-approved { color: #b2f2bb; } .s-delivered { color: #63e6be; } .s-done { color: #51cf66; }
.s-expired, .s-rejected { color: #ff6b6b; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: .8em; color: #ccc; border-bottom: 2px solid #666; padding: .2em .5em; }
td { padding: .25em .5em; border-bottom: 1px solid #333; vertical-align: top; overflow-wrap: anywhere; }
tbody tr:nth-child(even) { background: #111; }
td.stage-cell { font-weight: 800; white-space: nowrap; }
td.err, .err { color: #ff6b6b; }
td.since { white-space: nowrap; font-variant-numeric: tabular-nums; }
button { font: inherit; font-size: .8em; padding: .1em .6em; margin-right: .3em; border-radius: .25em;
  border: 2px solid #fff; cursor: pointer; }
button.approve { background: #2b8a3e; color: #fff; } button.reject { background: #c92a2a; color: #fff; }
.message { min-height: 1.3em; margin: 0 .8em; color: #ffd43b; }
#login { padding: 1em; } #login input { font: inherit; width: 24em; max-width: 100%; }
code { color: #ffd43b; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const POLL_MS = 2000;
  const LABELS = {certificate: "has certificate", registered: "registered", confirmed: "awaiting approval",
                  approved: "approved", delivered: "delivered", done: "done", expired: "expired",
                  rejected: "rejected"};
  let csrf = "", timer = null;
  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);  // text, never HTML
    return e;
  }
  function dur(s) {
    if (s === null || s === undefined) return "–";
    s = Math.max(0, Math.round(s));
    const two = (n) => String(n).padStart(2, "0");
    if (s >= 3600) return Math.floor(s / 3600) + "h" + two(Math.floor(s % 3600 / 60));
    if (s >= 60) return Math.floor(s / 60) + "m" + two(s % 60);
    return s + "s";
  }
  function showLogin(error) {
    $("board").hidden = true; $("login").hidden = false;
    $("login-error").textContent = error || "";
    $("status").textContent = "not signed in";
  }
  async function login(token) {
    const r = await fetch("/board/login", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({token: token})});
    return r.ok;
  }
  async function decide(action, kind, id) {
    let reason = "";
    if (action === "reject") {
      reason = window.prompt("Reason told to the trainee (optional):", "") ;
      if (reason === null) return;
    }
    const r = await fetch("/board/decide", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Board-CSRF": csrf},
      body: JSON.stringify({action: action, kind: kind, id: id, reason: reason})});
    let answer = {};
    try { answer = await r.json(); } catch (e) { answer = {}; }
    $("message").textContent = r.ok ? (action + "d request " + id)
                                     : ("refused: " + (answer.error || r.status));
    clearTimeout(timer); poll();
  }
  function buttons(cell, kind, id) {
    for (const action of ["approve", "reject"]) {
      const b = el("button", action, action === "approve" ? "Approve" : "Reject");
      b.type = "button"; b.dataset.action = action; b.dataset.id = String(id);
      b.addEventListener("click", () => decide(action, kind, id));
      cell.appendChild(b);
    }
  }
  function renderRoom(room, total) {
    const box = $("room"); box.replaceChildren();
    for (const st of room) {
      const d = el("div", "stage s-" + st.stage); d.dataset.stage = st.stage;
      d.appendChild(el("div", "count", st.count));
      d.appendChild(el("div", "name", LABELS[st.stage] || st.stage));
      const typical = st.median_seconds === null ? "" : "typically " + dur(st.median_seconds);
      const longest = st.longest_now_seconds === null ? "" : "longest now " + dur(st.longest_now_seconds);
      d.appendChild(el("div", "time", [typical, longest].filter(Boolean).join(" · ") || " "));
      const bar = el("div", "bar"); bar.style.width = (total ? 100 * st.count / total : 0) + "%";
      d.appendChild(bar);
      box.appendChild(d);
    }
  }
  function renderRows(rows) {
    const body = $("trainees").tBodies[0]; body.replaceChildren();
    for (const r of rows) {
      const tr = el("tr"); tr.dataset.stage = r.stage; tr.dataset.subject = r.subject;
      if (r.request_id !== null) tr.dataset.request = String(r.request_id);
      tr.appendChild(el("td", "name", r.name));
      tr.appendChild(el("td", "stage-cell s-" + r.stage, LABELS[r.stage] || r.stage));
      tr.appendChild(el("td", "since", dur(r.age_seconds)));
      tr.appendChild(el("td", "waiting", r.waiting_for));
      tr.appendChild(el("td", "err", r.last_error));
      const act = el("td", "decide");
      if (r.request_id !== null && (r.stage === "confirmed" || r.stage === "registered")) {
        buttons(act, "voms", r.request_id);
      }
      tr.appendChild(act);
      body.appendChild(tr);
    }
  }
  function renderIam(list) {
    $("iam-section").hidden = list.length === 0;
    const body = $("iam").tBodies[0]; body.replaceChildren();
    for (const q of list) {
      const tr = el("tr");
      for (const v of [q.username, q.email, q.vo, q.status]) tr.appendChild(el("td", "", v));
      const act = el("td", "decide"); buttons(act, "iam", q.id); tr.appendChild(act);
      body.appendChild(tr);
    }
  }
  async function poll() {
    let signedOut = false;
    try {
      const r = await fetch("/board/state.json", {cache: "no-store", credentials: "same-origin"});
      if (r.status === 401) { signedOut = true; showLogin(); return; }
      const data = await r.json();
      csrf = data.csrf;
      $("login").hidden = true; $("board").hidden = false;
      $("total").textContent = data.rows.length + (data.rows.length === 1 ? " trainee" : " trainees");
      renderRoom(data.room, data.rows.length);
      renderRows(data.rows);
      renderIam(data.iam || []);
      $("status").textContent = "live · " + new Date().toLocaleTimeString();
    } catch (e) {
      $("status").textContent = "sandbox not answering · retrying";
    } finally {
      if (!signedOut) timer = setTimeout(poll, POLL_MS);
    }
  }
  document.addEventListener("DOMContentLoaded", async () => {
    $("login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (await login($("token").value)) { $("token").value = ""; poll(); }
      else showLogin("That is not the instructor's token.");
    });
    const token = location.hash.slice(1);
    if (token) {  // the link's token: traded for a session at once, then out of the address bar
      history.replaceState(null, "", location.pathname);
      if (!(await login(decodeURIComponent(token)))) {
        showLogin("The link's token is no longer valid."); return;
      }
    }
    poll();
  });
})();
"""
