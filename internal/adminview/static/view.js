// Polls /admin/api/overview every 2 s and renders it. Read-only: the page
// sends nothing but GETs of the overview.
"use strict";
(() => {
  const every = 2000;
  const $ = (id) => document.getElementById(id);
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const fill = (id, rows) => {
    const body = $(id).tBodies[0];
    body.replaceChildren(...rows.map(([cells, cls]) => {
      const tr = document.createElement("tr");
      if (cls) tr.className = cls;
      tr.append(...cells);
      return tr;
    }));
  };
  const num = (n) => (n ?? 0).toLocaleString("en-US");
  const ago = (s) => s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`;

  function render(o) {
    const live = o.edges.filter((e) => !e.missing);
    const gone = o.edges.filter((e) => e.missing);
    $("edge-count").textContent = String(live.length);
    $("connections").textContent = num(o.connections);
    $("sockets").textContent = num(o.sockets);
    $("missing-count").textContent = String(gone.length);
    fill("edges", o.edges.map((e) => [[
      cell(e.id), cell(e.missing ? "missing" : "live", e.missing ? "state-missing" : "state-live"),
      cell(e.address), cell(e.version),
      // A missing edge's figures are its last heartbeat's, not counted in the totals.
      cell(e.missing ? `(${num(e.connections)})` : num(e.connections), "n"),
      cell(e.missing ? `(${num(e.sockets)})` : num(e.sockets), "n"),
      cell(ago(e.heartbeat_age_s), "n"),
    ], e.missing ? "missing" : ""]));
    const ns = o.namespaces.map((c) => [[cell(c.namespace), cell(num(c.sockets), "n")]]);
    if (o.other_sockets > 0) ns.push([[cell("(other namespaces)"), cell(num(o.other_sockets), "n")]]);
    fill("namespaces", ns);
    fill("rooms", o.rooms.top.map((r, i) => [[cell(String(i + 1)), cell(r.namespace), cell(r.name), cell(num(r.sockets), "n")]]));
    const l = o.limits;
    $("rooms-note").textContent = `The ${o.rooms.top.length} largest (at most ${l.top_rooms}) of ${num(o.rooms.read)} rooms read in ${o.rooms.pages} page(s) of at most ${num(l.room_page_size)}` +
      (o.rooms.partial ? ` — partial: the view reads at most ${l.max_room_pages} pages a refresh` : "") + ".";
    const denied = new Set(o.denials);
    const names = Object.keys(o.edge_counters).sort();
    const row = (k, v) => [[cell(k), cell(num(v), v > 0 ? "n nonzero" : "n")]];
    fill("denials", names.filter((k) => denied.has(k)).map((k) => row(k, o.edge_counters[k])));
    fill("drops", [
      ...names.filter((k) => !denied.has(k)).map((k) => row("edges: " + k, o.edge_counters[k])),
      ...Object.keys(o.control_counters ?? {}).sort().map((k) => row("control: " + k, o.control_counters[k])),
    ]);
    const errs = [...o.errors];
    if (o.missing_edges.length) errs.unshift(`edges that did not answer: ${o.missing_edges.join(", ")}`);
    $("errors").hidden = errs.length === 0;
    $("errors").textContent = errs.join(" · ");
    $("not-yet").replaceChildren(...o.not_yet.map((t) => { const li = document.createElement("li"); li.textContent = t; return li; }));
    $("status").textContent = `control ${o.control_version} · as of ${new Date(o.generated_at).toLocaleTimeString("en-GB")}`;
    document.body.dataset.generatedAt = o.generated_at;
  }

  async function poll() {
    try {
      const r = await fetch("/admin/api/overview", { cache: "no-store" });
      if (!r.ok) throw new Error(`overview: HTTP ${r.status}`);
      render(await r.json());
    } catch (err) {
      $("status").textContent = `control unreachable: ${err.message}`;
    } finally {
      setTimeout(poll, every);
    }
  }
  poll();
})();
