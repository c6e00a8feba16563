// k8snet ui: draws the view document the server pushes over SSE (/events).
// The document is built in k8snet/ui/model.py; this script only draws it.
"use strict";

const STYLE = [
  { selector: "node", style: { "label": "data(label)", "text-wrap": "wrap",
      "font-size": 10, "text-valign": "bottom", "text-margin-y": 3 } },
  { selector: "node.switch", style: { "shape": "round-rectangle", "background-color": "#455a64",
      "width": 56, "height": 26, "text-valign": "center", "color": "#fff", "text-margin-y": 0 } },
  { selector: "node.node", style: { "shape": "rectangle", "background-color": "#1e88e5",
      "width": 40, "height": 30 } },
  { selector: "node.master", style: { "background-color": "#6a1b9a" } },
  { selector: "node.external", style: { "background-color": "#8d6e63" } },
  { selector: "node.notready", style: { "background-color": "#e53935" } },
  { selector: "node.pod", style: { "shape": "ellipse", "background-color": "#43a047",
      "width": 18, "height": 18, "font-size": 8 } },
  { selector: "node.pod.pending", style: { "background-color": "#fdd835" } },
  { selector: "node.pod.failed", style: { "background-color": "#e53935" } },
  { selector: "node.pod.deleting", style: { "opacity": 0.4 } },
  { selector: "node.service", style: { "shape": "hexagon", "background-color": "#fb8c00",
      "width": 26, "height": 24, "font-size": 8 } },
  { selector: "node.policy", style: { "shape": "tag", "background-color": "#5e35b1",
      "width": 26, "height": 18, "font-size": 8 } },
  { selector: "node.policy.invalid", style: { "background-color": "#9e9e9e" } },
  { selector: "edge", style: { "width": 2, "line-color": "#90a4ae", "curve-style": "bezier",
      "label": "data(label)", "font-size": 8, "text-rotation": "autorotate" } },
  { selector: "edge.link.up", style: { "line-color": "#43a047", "width": 3 } },
  { selector: "edge.link.down", style: { "line-color": "#e53935", "width": 4,
      "line-style": "dashed" } },
  { selector: "edge.selects", style: { "width": 1, "line-style": "dashed",
      "line-color": "#9575cd", "opacity": 0.7 } },
  { selector: "edge.on", style: { "width": 1, "line-color": "#b0bec5" } },
  { selector: "edge.endpoint", style: { "width": 1, "line-style": "dotted",
      "line-color": "#fb8c00" } },
  { selector: "edge.path", style: { "line-color": "#8e24aa", "width": 6, "z-index": 10,
      "line-style": "solid" } },
  { selector: "node.path", style: { "border-width": 4, "border-color": "#8e24aa" } },
  { selector: "node.fault", style: { "border-width": 4, "border-color": "#e53935",
      "border-style": "dashed" } },
  { selector: ".picked", style: { "border-width": 3, "border-color": "#000" } },
];

const cy = cytoscape({ container: document.getElementById("cy"), style: STYLE,
                       layout: { name: "preset" } });
window.cy = cy;            // the browser test reads element state from here
// linkChanged[id] = {state, at}: when this page drew a link's new state (ms since
// the epoch), so a test can tell the delay from a cut to red without its own polling.
window.k8snet = { view: null, updates: 0, picked: [], linkChanged: {} };
let fitted = false;

function $(id) { return document.getElementById(id); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;",
  ">": "&gt;", '"': "&quot;"}[c])); }

function draw(view) {
  window.k8snet.view = view;
  window.k8snet.updates += 1;
  $("cluster").textContent = view.cluster;
  $("mode").textContent = view.mode;
  $("faults").textContent = view.faults.length ?
    "faults: " + view.faults.map(f => f.text || f.kind).join("; ") : "";
  drawFaults(view.faults);
  const want = new Set(view.elements.map(e => e.data.id));
  cy.batch(() => {
    cy.elements().forEach(el => { if (!want.has(el.id())) el.remove(); });
    for (const e of view.elements.filter(e => e.group === "nodes").concat(
                    view.elements.filter(e => e.group === "edges"))) {
      const el = cy.getElementById(e.data.id);
      if (e.data.kind === "link" &&
          (window.k8snet.linkChanged[e.data.id] || {}).state !== e.data.state) {
        window.k8snet.linkChanged[e.data.id] = { state: e.data.state, at: Date.now() };
      }
      if (el.length) {
        el.data(e.data);
        el.classes(e.classes + (el.hasClass("path") ? " path" : "") +
                   (el.hasClass("picked") ? " picked" : ""));
        if (e.position) el.position(e.position);
      } else {
        cy.add(e);
      }
    }
  });
  if (!fitted && view.elements.length) { cy.fit(undefined, 30); fitted = true; }
  $("services").innerHTML = view.services.length ? "<table>" + view.services.map(s =>
    `<tr><td>${esc(s.key)}<br><code>${esc(s.clusterIP)}</code> ${esc(s.ports.join(" "))}</td>` +
    `<td>${s.endpoints.map(ep => `<span class="${ep.ready ? "ok" : "fail"}">${esc(ep.ip)}` +
    `</span>`).join("<br>") || "<i>none</i>"}</td></tr>`).join("") + "</table>" : "none";
}

function drawPolicies(view) {
  $("policies").innerHTML = view.policies.length ? "<table>" + view.policies.map(p =>
    `<tr data-policy="${esc(p.key)}"><td>${esc(p.key)}</td><td>` + (p.error ?
      `<span class="fail">${esc(p.error)}</span>` :
      `selects ${esc(p.selects)}<br>${esc(p.types.join(", "))}` +
      ` (${p.ingress_rules} in, ${p.egress_rules} out)<br>applies to: ` +
      (p.pods.map(esc).join(", ") || "<i>no Pod</i>")) + "</td></tr>").join("") +
    "</table>" : "none";
  // Hovering a policy's row lights up it and the Pods it selects in the drawing.
  for (const row of $("policies").querySelectorAll("tr[data-policy]")) {
    const el = () => cy.getElementById("np:" + row.dataset.policy);
    row.onmouseenter = () => el().closedNeighborhood().select();
    row.onmouseleave = () => cy.elements().unselect();
  }
}

// What undoes one active fault, as a page action (see k8snet/ui/actions.py).
function undoOf(f) {
  if (f.kind === "link") return { action: "link-up", a: f.targets[0], b: f.targets[1] };
  if (f.kind === "crash") return { action: "restore", node: f.targets[0] };
  return { action: "clear" };   // a partition: only clear undoes it
}

function drawFaults(faults) {
  const list = $("fault-list");
  list.innerHTML = faults.length ? "" : "none";
  faults.forEach((f, i) => {
    const row = document.createElement("div");
    row.className = "fault-row fail";
    row.innerHTML = `${esc(f.text || f.kind)} <small>since ` +
      `${esc(new Date(f.since * 1000).toLocaleTimeString())}</small> `;
    const undo = document.createElement("button");
    undo.textContent = "undo";
    undo.id = `fault-undo-${i}`;
    undo.onclick = () => faultAction(undoOf(f));
    row.appendChild(undo);
    row.onmouseenter = () => f.elements.forEach(id => cy.getElementById(id).select());
    row.onmouseleave = () => cy.elements().unselect();
    list.appendChild(row);
  });
}

// Runs one `k8snet fault` action on the server; the fault state comes back by SSE.
async function faultAction(body) {
  $("fault-out").textContent = `${body.action} …`;
  window.k8snet.faultError = null;
  try {
    const res = await post("/api/fault", body);
    $("fault-out").textContent = res.done.join("\n");
    $("fault-out").className = "ok";
  } catch (err) {
    window.k8snet.faultError = err.message;
    $("fault-out").textContent = err.message;
    $("fault-out").className = "fail";
  }
}

function actionButtons(buttons) {
  const box = $("actions");
  box.innerHTML = "";
  for (const [id, label, body] of buttons) {
    const b = document.createElement("button");
    b.id = id;
    b.textContent = label;
    b.onclick = () => faultAction(body);
    box.appendChild(b);
  }
}

function bareName(id) { return id.slice(id.indexOf(":") + 1); }

async function loadComponents() {
  try {
    const resp = await fetch("/api/components");
    const comps = await resp.json();
    $("kill-component").innerHTML = comps.map(c =>
      `<option value="${esc(c.name)}">${esc(c.name)}</option>`).join("");
    const nodes = [...new Set(comps.flatMap(c => c.nodes))].sort();
    $("kill-node").innerHTML = '<option value="">every node</option>' +
      nodes.map(n => `<option>${esc(n)}</option>`).join("");
  } catch (err) {
    $("fault-out").textContent = `components: ${err.message}`;
  }
}

$("fault-clear").onclick = () => faultAction({ action: "clear" });
$("kill-btn").onclick = () => faultAction({ action: "kill", component: $("kill-component").value,
                                            node: $("kill-node").value });

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("view", ev => {
    const view = JSON.parse(ev.data);
    draw(view);
    drawPolicies(view);
  });
  source.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn-ok"; };
  source.onerror = () => { $("conn").textContent = "reconnecting";
                           $("conn").className = "conn-wait"; };
}

function traceEnd(el) {
  const d = el.data();
  return d.kind === "pod" ? d.key : d.name;
}

function showDetails(el) {
  const d = el.data();
  let html = `<b>${esc(d.id)}</b><pre>${esc(JSON.stringify(d, null, 1))}</pre>`;
  $("details").innerHTML = html;
  if (d.kind === "switch") {
    fetch(`/api/switch/${encodeURIComponent(d.label)}`).then(r => r.json()).then(t => {
      const c = t.controller, same = c.flows === t.held.flows && c.groups.length === t.held.groups;
      $("details").innerHTML = html +
        `<table><tr><th></th><th>controller</th><th>switch</th></tr>` +
        `<tr><td>flows</td><td>${c.flows}</td><td>${t.held.flows}</td></tr>` +
        `<tr><td>groups</td><td>${c.groups.length}</td><td>${t.held.groups}</td></tr></table>` +
        `<p class="${same ? "ok" : "fail"}">${same ? "switch holds what the controller plans"
          : "switch and controller differ"}</p>` +
        `<b>ECMP groups (controller)</b><pre>${esc(c.ecmp.map(g =>
          `group ${g.id}: branches via ports ${g.branches.join(", ")}`).join("\n") || "none")}` +
        `</pre><b>groups (switch)</b><pre>${esc(t.groups.join("\n"))}</pre>` +
        `<b>flows (switch)</b><pre>${esc(t.flows.join("\n"))}</pre>`;
    });
  }
}

cy.on("tap", "edge.link", ev => {
  const d = ev.target.data(), a = bareName(d.source), b = bareName(d.target);
  $("details").innerHTML = `<b>${esc(d.id)}</b> ${esc(d.state)}<br>ports ` +
    `${esc(d.ports.join(", "))}`;
  actionButtons([["link-down-btn", `link ${a} – ${b} down`, { action: "link-down", a, b }],
                 ["link-up-btn", "up", { action: "link-up", a, b }]]);
});

cy.on("tap", "node", ev => {
  const el = ev.target;
  showDetails(el);
  actionButtons(el.data("kind") === "node" && el.data("role") !== "external" ? [
    ["node-crash-btn", `crash ${el.data("name")}`, { action: "crash", node: el.data("name") }],
    ["node-restore-btn", "restore", { action: "restore", node: el.data("name") }]] : []);
  if (el.data("kind") !== "pod" && el.data("kind") !== "node") return;
  const picked = window.k8snet.picked;
  if (picked.length === 2) { picked.length = 0; cy.elements(".picked").removeClass("picked"); }
  picked.push(traceEnd(el));
  el.addClass("picked");
  $("src").textContent = picked[0] || "—";
  $("dst").textContent = picked[1] || "—";
  $("trace-btn").disabled = picked.length !== 2;
});

const TOKEN = document.querySelector('meta[name="k8snet-token"]').content;

async function post(url, body) {
  const resp = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json",
                                                             "X-K8snet-Token": TOKEN },
                                  body: JSON.stringify(body || {}) });
  const doc = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) throw new Error(doc.error || resp.statusText);
  return doc;
}

$("trace-btn").onclick = async () => {
  const [src, dst] = window.k8snet.picked;
  $("trace-out").textContent = `tracing ${src} → ${dst} …`;
  cy.elements(".path").removeClass("path");
  window.k8snet.trace = window.k8snet.traceError = null;
  try {
    const res = await post("/api/trace", { src, dst, proto: $("proto").value });
    window.k8snet.trace = res;
    for (const id of res.path) cy.getElementById(id).addClass("path");
    const t = res.trace;
    $("trace-out").innerHTML = `<p class="${t.matches_intended ? "ok" : "fail"}">` +
      `${esc(t.comparison)}</p>` + t.hops.map((h, i) =>
        `<div class="hop">${i + 1}. <b>${esc(h.place)}</b> ${esc(h.iface)} ${esc(h.direction)}` +
        ` ttl ${esc(h.ttl)}<br><code>${esc(h.eth_src)} &gt; ${esc(h.eth_dst)}</code>` +
        h.changes.map(c => `<br>changed: ${esc(c)}`).join("") + "</div>").join("");
  } catch (err) {
    window.k8snet.traceError = err.message;
    $("trace-out").innerHTML = `<p class="fail">${esc(err.message)}</p>`;
  }
};

$("probe-btn").onclick = async () => {
  $("trace-out").textContent = "probing (this takes a while) …";
  try {
    const res = await post("/api/probe");
    const checks = res.report.checks || [];
    $("trace-out").innerHTML = `<p class="${res.ok ? "ok" : "fail"}">probes ` +
      `${res.ok ? "passed" : "failed"}</p>` + checks.map(c =>
        `<details><summary><span class="${c.verdict === "pass" ? "ok" : "fail"}">` +
        `${esc(c.verdict)}</span> <b>${esc(c.name)}</b>: ${esc(c.reason)}</summary>` +
        `<pre>${esc((c.evidence || []).join("\n"))}</pre></details>`).join("");
  } catch (err) {
    $("trace-out").innerHTML = `<p class="fail">${esc(err.message)}</p>`;
  }
};

connect();
loadComponents();
