/// The live pipeline view at `/pipeline`, fed by the documented stream `GET /v1/pipeline/stream` (server-sent
/// events, about four per second): one lane per stage with its busy, upstream-wait and relay-wait fractions over the
/// last seconds, micro-batches in flight, a rolling Gantt timeline of the last two seconds (the spans `--trace`
/// records), KV blocks, queue, tokens/s, the partition and the pipeline's restarts.
enum PipelinePage {
    static let html = #"""
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
    <title>Brigade · pipeline</title><style>/*STYLE*/
    .content { padding: 16px; display: flex; flex-direction: column; gap: 16px; max-width: 1200px; }
    .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
    .card { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 8px 12px; }
    .card .value { font-size: 20px; font-weight: 600; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--border); font-variant-numeric: tabular-nums; }
    .bar { position: relative; height: 14px; width: 160px; background: var(--panel); border-radius: 3px; overflow: hidden; display: flex; }
    .bar span { display: block; height: 100%; }
    .busy { background: var(--busy); } .wait { background: var(--wait); } .relay { background: var(--relay); } .loop { background: var(--loop); }
    canvas { width: 100%; height: 240px; background: var(--panel); border: 1px solid var(--border); border-radius: 8px; }
    .legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; border-radius: 2px; }
    #status.down { color: var(--wait); }
    @media (max-width: 720px) { .bar { width: 80px; } th:nth-child(3), td:nth-child(3) { display: none; } }
    </style></head>
    <body>
    <header><h1>Pipeline</h1><span class="model" id="model"></span><span class="spacer"></span>
      <span id="status" class="muted">connecting…</span><a href="/">Chat</a>
      <button id="theme-toggle" aria-label="Switch theme">◐</button></header>
    <div class="content">
      <div class="cards">
        <div class="card"><div class="muted">prompt tokens/s</div><div class="value" id="prompt-rate">–</div></div>
        <div class="card"><div class="muted">generated tokens/s</div><div class="value" id="generated-rate">–</div></div>
        <div class="card"><div class="muted">running / waiting</div><div class="value" id="requests">–</div></div>
        <div class="card"><div class="muted">KV blocks used / total</div><div class="value" id="kv">–</div></div>
        <div class="card"><div class="muted">cached blocks</div><div class="value" id="cached">–</div></div>
        <div class="card"><div class="muted">restarts · state</div><div class="value" id="restarts">–</div></div>
      </div>
      <table><thead><tr><th>stage</th><th>layers</th><th>host</th><th>busy</th><th>time (busy · upstream wait · relay wait)</th><th>in flight</th></tr></thead>
        <tbody id="stages"></tbody></table>
      <div><div class="muted legend">last 2 s, one lane per rank loop and relay:<span class="busy"></span>forward<span class="wait"></span>waiting
        <span class="loop"></span>schedule / handle<span class="relay"></span>relay</div>
        <canvas id="gantt" width="1200" height="240"></canvas><div class="muted" id="timeline-note"></div></div>
    </div>
    <script>
    "use strict";
    /*COMMON*/
    const $ = (id) => document.getElementById(id);
    const spans = [];   // {rank, relay, category, start, end} in ms of the server's clock
    let clockOffset = null, latest = null;

    function percent(x) { return (100 * x).toFixed(0) + " %"; }
    function update(snapshot) {
      latest = snapshot;
      $("model").textContent = snapshot.model || "";
      $("prompt-rate").textContent = snapshot.tokens.prompt_per_second.toFixed(0);
      $("generated-rate").textContent = snapshot.tokens.generated_per_second.toFixed(1);
      $("requests").textContent = snapshot.requests.running + " / " + snapshot.requests.waiting;
      $("kv").textContent = snapshot.kv.used + " / " + snapshot.kv.total;
      $("cached").textContent = snapshot.kv.cached;
      $("restarts").textContent = snapshot.pipeline.restarts + " · " + snapshot.pipeline.state;
      const rows = snapshot.stages.map((s) => {
        const row = document.createElement("tr");
        row.dataset.busy = s.busy.toFixed(3);
        row.className = "stage";
        const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
        const bar = document.createElement("td");
        const box = document.createElement("div");
        box.className = "bar";
        for (const [kind, value] of [["busy", s.busy], ["wait", s.upstream_wait], ["relay", s.relay_wait]]) {
          const part = document.createElement("span");
          part.className = kind;
          part.style.width = Math.max(0, Math.min(100, 100 * value)) + "%";
          box.append(part);
        }
        bar.append(box);
        row.append(cell(String(s.stage)), cell(s.layers), cell(s.host || "this process"), cell(percent(s.busy)), bar, cell(String(s.in_flight)));
        return row;
      });
      $("stages").replaceChildren(...rows);
      for (const s of snapshot.spans) spans.push(s);
      const horizon = snapshot.now_ms - 2000;
      while (spans.length && spans[0].end < horizon) spans.shift();
      $("timeline-note").textContent = snapshot.timeline_available ? "" :
        "The timeline shows ranks that run in this process; this pipeline's ranks run under mpirun (the lanes above still cover every stage).";
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    }

    function draw() {
      const canvas = $("gantt");
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth, height = canvas.clientHeight;
      if (canvas.width !== width * ratio) { canvas.width = width * ratio; canvas.height = height * ratio; }
      const g = canvas.getContext("2d");
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      g.clearRect(0, 0, width, height);
      if (latest) {
        const style = getComputedStyle(document.documentElement);
        const colors = { compute: style.getPropertyValue("--busy"), wait: style.getPropertyValue("--wait"),
                         loop: style.getPropertyValue("--loop"), relay: style.getPropertyValue("--relay") };
        const lanes = Math.max(1, latest.stages.length * 2);
        const laneHeight = (height - 20) / lanes;
        const end = latest.now_ms, start = end - 2000, left = 70, span = width - left - 8;
        g.font = "11px system-ui"; g.fillStyle = style.getPropertyValue("--muted");
        for (let lane = 0; lane < lanes; lane++) {
          g.fillText("rank " + Math.floor(lane / 2) + (lane % 2 ? " relay" : ""), 4, 12 + lane * laneHeight + laneHeight / 2);
        }
        for (const s of spans) {
          const x0 = left + Math.max(0, (s.start - start) / 2000) * span, x1 = left + Math.min(1, (s.end - start) / 2000) * span;
          if (x1 <= left) continue;
          g.fillStyle = colors[s.category] || colors.loop;
          g.fillRect(x0, 4 + (s.rank * 2 + (s.relay ? 1 : 0)) * laneHeight, Math.max(1, x1 - x0), laneHeight - 4);
        }
        g.fillStyle = style.getPropertyValue("--muted");
        g.fillText("−2 s", left, height - 4); g.fillText("now", width - 30, height - 4);
      }
      requestAnimationFrame(draw);
    }

    async function connect() {
      for (;;) {
        try {
          const key = localStorage.getItem("brigade.apiKey");
          const headers = key ? { authorization: "Bearer " + JSON.parse(key) } : {};
          const response = await fetch("/v1/pipeline/stream", { headers });
          if (response.status === 401) {
            const entered = prompt("This server needs an API key:");
            if (entered) localStorage.setItem("brigade.apiKey", JSON.stringify(entered));
            continue;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          $("status").textContent = "live"; $("status").className = "muted";
          await readEvents(response, (data) => update(JSON.parse(data)));
        } catch (error) { /* retried below */ }
        $("status").textContent = "reconnecting…"; $("status").className = "down";
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    setUpTheme();
    requestAnimationFrame(draw);
    connect();
    </script>
    </body></html>
    """#.replacingOccurrences(of: "/*STYLE*/", with: WebStyle.css).replacingOccurrences(of: "/*COMMON*/", with: WebScript.common)
}
