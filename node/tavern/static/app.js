// The Tavern page: polls the node's JSON endpoints every POLL_MS and draws tables, SVG curves and the
// battle board on a canvas. Plain JavaScript, no library, nothing fetched from outside this server.
"use strict";

const POLL_MS = 2000;
const SVG_NS = "http://www.w3.org/2000/svg";
const TILE_COLOURS = { 0: "#efe6cf", 1: "#4a4a4a", 2: "#e08a3c" };
const SIDE_COLOURS = { trained: "#1d4f91", untrained: "#b00020" };
const EVAL_SERIES = [
  ["move_accuracy", "move accuracy", "#1d4f91"],
  ["block_recall", "block recall", "#176b2c"],
  ["win_rate_vs_untrained", "battles won vs. untrained", "#b00020"],
];

const ui = { view: "beasts", beast: null, battle: null, turn: 0, timer: null, latest: {} };

function $(id) { return document.getElementById(id); }

async function getJSON(path) {
  const resp = await fetch(path, { cache: "no-store" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows, render) {
  const body = $(id).querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    body.appendChild(tr);
  }
}

const VIEWS = ["beasts", "curves", "disputes", "battle"];

function showView(view) {
  ui.view = VIEWS.includes(view) ? view : "beasts";
  view = ui.view;
  for (const s of document.querySelectorAll(".view")) s.classList.toggle("active", s.id === "view-" + view);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view);
  refresh();
}

// ---- charts -------------------------------------------------------------------------------

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// series: [{name, colour, points: [[x, y], ...]}]; yRange: [lo, hi] or null for the data's range
function drawChart(container, series, yRange, yLabel) {
  const W = 720, H = 270, L = 70, R = 170, T = 26, B = 34;
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  const all = series.flatMap((s) => s.points);
  container.replaceChildren(svg);
  if (all.length === 0) {
    svg.appendChild(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty" }, "no points yet"));
    container.dataset.points = "0";
    return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = yRange || [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  svg.appendChild(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#888" }));
  svg.appendChild(svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#888" }));
  const fmt = (v) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en") : +v.toFixed(3));
  svg.appendChild(svgEl("text", { x: L - 6, y: sy(y1) + 4, "text-anchor": "end", "font-size": 11 }, fmt(y1)));
  svg.appendChild(svgEl("text", { x: L - 6, y: sy(y0), "text-anchor": "end", "font-size": 11 }, fmt(y0)));
  svg.appendChild(svgEl("text", { x: sx(x0), y: H - B + 16, "font-size": 11 }, `window ${x0}`));
  svg.appendChild(svgEl("text", { x: sx(x1), y: H - B + 16, "text-anchor": "end", "font-size": 11 }, `window ${x1}`));
  svg.appendChild(svgEl("text", { x: L, y: 14, "font-size": 11 }, yLabel));
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const pts = s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
    svg.appendChild(svgEl("polyline", { points: pts, fill: "none", stroke: s.colour, "stroke-width": 2, class: "series", "data-name": s.name }));
    for (const p of s.points.length <= 200 ? s.points : []) {
      svg.appendChild(svgEl("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: s.colour }));
    }
    svg.appendChild(svgEl("text", { x: W - R + 10, y: T + 14 + 16 * i, fill: s.colour, "font-size": 12 }, s.name));
  });
  container.dataset.points = String(all.length);
}

// ---- views --------------------------------------------------------------------------------

function renderOverview(ov) {
  const d = ov.daemon;
  $("node-line").textContent = `node ${ov.node} · daemon ${d.running ? "running (" + d.state + ")" : "not running"} · ` +
    `${ov.beasts.length} beast(s) · ENERGY spent ${ov.energySpent}`;
  const select = $("beast-select");
  const ids = ov.beasts.map((b) => String(b.beastId));
  if ([...select.options].map((o) => o.value).join() !== ids.join()) {
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
  }
  if (ui.beast === null && ids.length) ui.beast = ids[0];
  if (ui.beast !== null) select.value = ui.beast;
  for (const el of document.querySelectorAll(".beast-id")) el.textContent = ui.beast ?? "–";
  ui.latest = Object.fromEntries(ov.beasts.map((b) => [String(b.beastId), b.latestWindow]));
  fillTable("beasts-table", ov.beasts, (tr, b) => {
    cell(tr, b.beastId);
    cell(tr, b.latestWindow);
    cell(tr, b.latestStatus, "status-" + b.latestStatus);
    cell(tr, b.windows.committed);
    cell(tr, b.windows.finalized);
    cell(tr, b.windows.disputed);
    cell(tr, b.lossSum);
    cell(tr, b.energySpent);
    cell(tr, b.latestH128, "hash");
    tr.dataset.beast = b.beastId;
  });
}

async function refreshWindows() {
  if (ui.beast === null) return;
  const latest = ui.latest[ui.beast] || 0;
  const doc = await getJSON(`/api/beasts/${ui.beast}/windows?start=${Math.max(0, latest - 49)}&limit=50`);
  fillTable("windows-table", doc.windows.slice().reverse(), (tr, w) => {
    cell(tr, w.window);
    cell(tr, w.status, "status-" + w.status);
    cell(tr, w.window === 0 ? null : w.lossSum);
    cell(tr, w.window === 0 ? null : w.energy);
    cell(tr, w.block);
    cell(tr, w.h128, "hash");
  });
}

async function refreshCurves() {
  if (ui.beast === null) return;
  const doc = await getJSON(`/api/beasts/${ui.beast}/curves`);
  drawChart($("loss-chart"), [{ name: "window loss", colour: "#3b2f2f", points: doc.loss.map((p) => [p.window, p.lossSum]) }],
    null, "loss (Q8)");
  const series = EVAL_SERIES.map(([key, name, colour]) => ({
    name, colour, points: doc.eval.filter((e) => key in e).map((e) => [e.window, e[key]]),
  }));
  drawChart($("acc-chart"), series, [0, 1], "share");
  $("acc-note").textContent = doc.eval.length ? `${doc.eval.length} evaluation(s) recorded by the node (metrics.jsonl)` :
    "no held-out evaluation recorded yet (the node records one every eval_every windows)";
}

async function refreshDisputes() {
  const doc = await getJSON("/api/disputes");
  const rows = doc.chain.games.map((g) => ({ id: g.gameId, beast: g.beastId, window: g.window,
    state: g.state + (g.reason ? ` (${g.reason})` : ""), toMove: g.toMove, range: `${g.lo}..${g.hi}`, moves: g.moves,
    clocks: g.toMove ? `${g.defenderBlocksLeft} / ${g.challengerBlocksLeft}` : null, bond: g.bond }));
  const known = new Set(rows.map((r) => `${r.beast}/${r.window}`));
  for (const l of doc.local) {
    if (!known.has(`${l.beastId}/${l.window}`)) rows.push({ id: null, beast: l.beastId, window: l.window,
      state: "disputed (chain status " + (l.chainStatus ?? "?") + ")", toMove: null, range: null, moves: null,
      clocks: null, bond: null });
  }
  fillTable("disputes-table", rows, (tr, r) => {
    tr.dataset.game = r.id === null ? "" : String(r.id);
    for (const k of ["id", "beast", "window", "state", "toMove", "range", "moves", "clocks", "bond"]) cell(tr, r[k]);
  });
  $("disputes-note").textContent = (rows.length ? "" : "No disputes against this node's beasts. ") + (doc.chain.note || "") +
    (doc.chain.block !== undefined ? ` Chain at block ${doc.chain.block}.` : "");
}

async function refresh() {
  try {
    renderOverview(await getJSON("/api/overview"));
    if (ui.view === "beasts") await refreshWindows();
    if (ui.view === "curves") await refreshCurves();
    if (ui.view === "disputes") await refreshDisputes();
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    $("error").textContent = "";
  } catch (err) {
    $("error").textContent = "error: " + err.message;
  }
}

// ---- battle -------------------------------------------------------------------------------

function drawBoard(battle, turnIndex) {
  const canvas = $("battle-board");
  const ctx = canvas.getContext("2d");
  const n = battle.size, cellPx = canvas.width / n;
  const creatures = turnIndex === 0 ? battle.start : battle.turns[turnIndex - 1].creatures;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  battle.tiles.forEach((t, i) => {
    ctx.fillStyle = TILE_COLOURS[t] || "#fff";
    ctx.fillRect((i % n) * cellPx, Math.floor(i / n) * cellPx, cellPx, cellPx);
    ctx.strokeStyle = "#bbb";
    ctx.strokeRect((i % n) * cellPx, Math.floor(i / n) * cellPx, cellPx, cellPx);
  });
  creatures.forEach((c, k) => {
    const side = battle.sides[k];
    ctx.fillStyle = SIDE_COLOURS[side];
    ctx.beginPath();
    ctx.arc((c.x + 0.5) * cellPx, (c.y + 0.5) * cellPx, cellPx * 0.36, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.font = `bold ${Math.round(cellPx * 0.4)}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(side === "trained" ? "T" : "U", (c.x + 0.5) * cellPx, (c.y + 0.5) * cellPx);
    ctx.fillStyle = "#222";
    ctx.fillRect(c.x * cellPx + 4, c.y * cellPx + 3, cellPx - 8, 5);
    ctx.fillStyle = "#3cb043";
    ctx.fillRect(c.x * cellPx + 4, c.y * cellPx + 3, (cellPx - 8) * Math.min(1, c.hp / 100), 5);
  });
  const last = turnIndex === battle.turns.length;
  $("battle-turn").textContent = `window ${battle.window}, battle ${battle.index}: turn ${turnIndex} of ${battle.turns.length}` +
    (last ? ` · winner: ${battle.winner}` : "");
  $("battle-hp").textContent = creatures.map((c, k) => `${battle.sides[k]} hp ${c.hp} stamina ${c.stamina}`).join(" · ");
  $("battle-slider").value = String(turnIndex);
  canvas.dataset.turn = String(turnIndex);
  canvas.dataset.drawn = "1";
}

function describe(a) {
  return a.kind + (a.direction ? " " + a.direction : "") + (a.power !== undefined ? " power " + a.power : "");
}

function showTurn(i) {
  const b = ui.battle;
  ui.turn = i;
  drawBoard(b, i);
  const log = $("battle-log");
  log.replaceChildren(...b.turns.slice(0, i).map((t) => {
    const li = document.createElement("li");
    li.textContent = t.actions.map((a, k) => `${b.sides[k]}: ${describe(a)}`).join(" · ");
    return li;
  }));
}

function stopPlaying() {
  if (ui.timer !== null) clearInterval(ui.timer);
  ui.timer = null;
}

async function playBattle(ev) {
  if (ev) ev.preventDefault();
  stopPlaying();
  if (ui.beast === null) return;
  const w = $("battle-window").value, idx = $("battle-index").value || "0";
  try {
    ui.battle = await getJSON(`/api/beasts/${ui.beast}/battle?battle=${idx}` + (w === "" ? "" : `&window=${w}`));
  } catch (err) {
    $("error").textContent = "error: " + err.message;
    return;
  }
  $("error").textContent = "";
  $("battle-slider").max = String(ui.battle.turns.length);
  showTurn(0);
  ui.timer = setInterval(() => {
    if (ui.turn >= ui.battle.turns.length) return stopPlaying();
    showTurn(ui.turn + 1);
  }, 350);
}

// ---- start --------------------------------------------------------------------------------

window.addEventListener("hashchange", () => showView(location.hash.slice(1) || "beasts"));
$("beast-select").addEventListener("change", (e) => { ui.beast = e.target.value; refresh(); });
$("battle-form").addEventListener("submit", playBattle);
$("battle-pause").addEventListener("click", stopPlaying);
$("battle-slider").addEventListener("input", (e) => { stopPlaying(); if (ui.battle) showTurn(Number(e.target.value)); });
showView(location.hash.slice(1) || "beasts");
setInterval(refresh, POLL_MS);
