/// The chat page at `/`: conversations kept in the browser's local storage, replies streamed from
/// `/v1/chat/completions` and rendered as Markdown without trusting the model (its text is escaped before any markup is
/// added), a Stop button that aborts the request (the server then cancels it on every rank), sampling settings, TTFT
/// and tokens/s under each reply, the API key asked for when the server needs one. No external resources.
enum ChatPage {
    static let html = #"""
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
    <title>Brigade</title><style>/*STYLE*/
    body { display: flex; flex-direction: column; }
    main { flex: 1; display: flex; min-height: 0; }
    aside { width: 260px; border-right: 1px solid var(--border); background: var(--panel); padding: 12px; overflow-y: auto;
            display: flex; flex-direction: column; gap: 10px; }
    aside label { font-size: 12px; color: var(--muted); display: block; margin-bottom: 2px; }
    #conversations { list-style: none; margin: 0; padding: 0; }
    #conversations li { padding: 6px 8px; border-radius: 6px; cursor: pointer; display: flex; gap: 6px; align-items: center; }
    #conversations li span { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    #conversations li.current { background: var(--bg); font-weight: 600; }
    #conversations li button { padding: 0 6px; border: none; background: none; color: var(--muted); }
    .settings { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
    section.chat { flex: 1; display: flex; flex-direction: column; min-width: 0; }
    #messages { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 12px; }
    .message { max-width: 760px; width: fit-content; padding: 8px 12px; border-radius: 10px; overflow-wrap: anywhere; }
    .message.user { align-self: flex-end; background: var(--user); white-space: pre-wrap; }
    .message.assistant { align-self: flex-start; background: var(--panel); }
    .message.assistant p { margin: 0 0 8px; } .message.assistant p:last-child { margin-bottom: 0; }
    .message .stats { margin-top: 4px; }
    .message.error { border: 1px solid var(--wait); }
    form.composer { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--border); }
    form.composer textarea { resize: none; height: 44px; }
    #toggle-sidebar { display: none; }
    @media (max-width: 720px) {
      aside { position: fixed; top: 49px; bottom: 0; left: 0; z-index: 2; transform: translateX(-100%); transition: transform .2s; }
      aside.open { transform: none; }
      #toggle-sidebar { display: inline-block; }
      .message { max-width: 100%; }
    }
    </style></head>
    <body>
    <header>
      <button id="toggle-sidebar" aria-label="Conversations">☰</button>
      <h1>Brigade</h1><span class="model" id="model">…</span><span class="spacer"></span>
      <a id="pipeline-link" href="/pipeline">Pipeline</a>
      <button id="theme-toggle" aria-label="Switch theme">◐</button>
    </header>
    <main>
      <aside id="sidebar">
        <button id="new-chat" class="primary">New chat</button>
        <ul id="conversations"></ul>
        <div><label for="system-prompt">System prompt</label><textarea id="system-prompt" rows="3" placeholder="You are a helpful assistant."></textarea></div>
        <div class="settings">
          <div><label for="temperature">Temperature</label><input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></div>
          <div><label for="top-p">Top-p</label><input id="top-p" type="number" min="0.01" max="1" step="0.05" value="1"></div>
          <div><label for="max-tokens">Max tokens</label><input id="max-tokens" type="number" min="1" step="1" value="512"></div>
          <div><label for="seed">Seed</label><input id="seed" type="number" step="1" placeholder="random"></div>
        </div>
        <button id="forget-key">Forget API key</button>
      </aside>
      <section class="chat">
        <div id="messages" aria-live="polite"></div>
        <form class="composer" id="composer">
          <textarea id="input" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
          <button id="send" class="primary" type="submit">Send</button>
          <button id="stop" type="button" disabled>Stop</button>
        </form>
      </section>
    </main>
    <script>
    "use strict";
    /*COMMON*/
    const $ = (id) => document.getElementById(id);
    const store = {
      get(key, fallback) { try { const v = localStorage.getItem("brigade." + key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; } },
      set(key, value) { localStorage.setItem("brigade." + key, JSON.stringify(value)); },
    };
    let conversations = store.get("conversations", []);
    let currentID = store.get("current", null);
    let controller = null;
    let modelName = null;

    // Markdown, safely: every character of the model's text is escaped first; markup is added only around escaped text.
    function escapeHTML(text) {
      return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
    }
    function inline(text) {
      return text
        .replace(/`([^`]+)`/g, (_, code) => "<code>" + code + "</code>")
        .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
        .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
        .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" rel="noopener noreferrer" target="_blank">$1</a>');
    }
    function markdown(source) {
      const out = [];
      const parts = source.split(/```/);
      parts.forEach((part, i) => {
        if (i % 2 === 1) {  // a code block (possibly still streaming, unterminated)
          const newline = part.indexOf("\n");
          const body = newline >= 0 ? part.slice(newline + 1) : part;
          out.push("<pre><code>" + escapeHTML(body.replace(/\n$/, "")) + "</code></pre>");
          return;
        }
        let list = null;
        const paragraph = [];
        const flush = () => { if (paragraph.length) { out.push("<p>" + paragraph.join("<br>") + "</p>"); paragraph.length = 0; } };
        const closeList = () => { if (list) { out.push("</" + list + ">"); list = null; } };
        for (const raw of part.split("\n")) {
          const line = escapeHTML(raw);
          let m;
          if ((m = line.match(/^(#{1,4})\s+(.*)$/))) { flush(); closeList(); out.push("<h" + (m[1].length + 2) + ">" + inline(m[2]) + "</h" + (m[1].length + 2) + ">"); }
          else if ((m = line.match(/^\s*[-*]\s+(.*)$/)) || (m = line.match(/^\s*\d+[.)]\s+(.*)$/))) {
            flush();
            const kind = /^\s*\d/.test(line) ? "ol" : "ul";
            if (list !== kind) { closeList(); out.push("<" + kind + ">"); list = kind; }
            out.push("<li>" + inline(m[1]) + "</li>");
          }
          else if (line.trim() === "") { flush(); closeList(); }
          else { closeList(); paragraph.push(inline(line)); }
        }
        flush(); closeList();
      });
      return out.join("");
    }

    function current() { return conversations.find((c) => c.id === currentID); }
    function save() { store.set("conversations", conversations); store.set("current", currentID); }
    function newConversation() {
      const conversation = { id: String(Date.now()) + Math.random().toString(16).slice(2, 6), title: "New chat",
                             system: $("system-prompt").value, messages: [] };
      conversations.unshift(conversation);
      currentID = conversation.id;
      save();
      render();
    }

    function renderList() {
      const list = $("conversations");
      list.replaceChildren();
      for (const c of conversations) {
        const item = document.createElement("li");
        item.className = c.id === currentID ? "current" : "";
        const title = document.createElement("span");
        title.textContent = c.title;
        const remove = document.createElement("button");
        remove.textContent = "×";
        remove.title = "Delete";
        remove.onclick = (event) => {
          event.stopPropagation();
          conversations = conversations.filter((x) => x.id !== c.id);
          if (currentID === c.id) currentID = conversations.length ? conversations[0].id : null;
          save(); render();
        };
        item.append(title, remove);
        item.onclick = () => { currentID = c.id; save(); render(); $("sidebar").classList.remove("open"); };
        list.append(item);
      }
    }

    function bubble(message) {
      const element = document.createElement("div");
      element.className = "message " + message.role + (message.error ? " error" : "");
      const body = document.createElement("div");
      body.className = "body";
      if (message.role === "assistant") body.innerHTML = markdown(message.content); else body.textContent = message.content;
      element.append(body);
      if (message.stats) {
        const stats = document.createElement("div");
        stats.className = "stats muted";
        stats.textContent = message.stats;
        element.append(stats);
      }
      return element;
    }

    function render() {
      renderList();
      const conversation = current();
      $("system-prompt").value = conversation ? conversation.system || "" : $("system-prompt").value;
      const messages = $("messages");
      messages.replaceChildren(...(conversation ? conversation.messages.map(bubble) : []));
      messages.scrollTop = messages.scrollHeight;
    }

    function headers() {
      const h = { "content-type": "application/json" };
      const key = store.get("apiKey", null);
      if (key) h.authorization = "Bearer " + key;
      return h;
    }

    async function authorizedFetch(url, options) {
      for (;;) {
        const response = await fetch(url, { ...options, headers: headers() });
        if (response.status !== 401) return response;
        const key = prompt("This server needs an API key:");
        if (!key) return response;
        store.set("apiKey", key);
      }
    }

    async function loadModel() {
      try {
        const response = await authorizedFetch("/v1/models", { method: "GET" });
        const list = await response.json();
        modelName = list.data && list.data.length ? list.data[0].id : null;
        $("model").textContent = modelName || "no model";
      } catch (error) { $("model").textContent = "not reachable"; }
    }

    async function send(text) {
      if (!current()) newConversation();
      const conversation = current();
      conversation.system = $("system-prompt").value;
      conversation.messages.push({ role: "user", content: text });
      if (conversation.title === "New chat") conversation.title = text.slice(0, 40);
      const reply = { role: "assistant", content: "" };
      conversation.messages.push(reply);
      save(); render();
      const messages = $("messages");
      const element = messages.lastElementChild;
      const body = element.querySelector(".body");
      const history = conversation.messages.slice(0, -1).filter((m) => !m.error).map((m) => ({ role: m.role, content: m.content }));
      if (conversation.system.trim()) history.unshift({ role: "system", content: conversation.system });
      const request = { messages: history, stream: true, stream_options: { include_usage: true },
                        temperature: Number($("temperature").value), top_p: Number($("top-p").value),
                        max_tokens: Number($("max-tokens").value) };
      if (modelName) request.model = modelName;
      if ($("seed").value !== "") request.seed = Number($("seed").value);
      store.set("settings", { temperature: $("temperature").value, topP: $("top-p").value, maxTokens: $("max-tokens").value, seed: $("seed").value });
      controller = new AbortController();
      $("send").disabled = true; $("stop").disabled = false;
      const started = performance.now();
      let first = null, tokens = 0, chunks = 0, finish = null, pending = false;
      const paint = () => { pending = false; body.innerHTML = markdown(reply.content); messages.scrollTop = messages.scrollHeight; };
      try {
        const response = await authorizedFetch("/v1/chat/completions", { method: "POST", body: JSON.stringify(request), signal: controller.signal });
        if (!response.ok) {
          const error = await response.json().catch(() => ({}));
          throw new Error((error.error && error.error.message) || ("HTTP " + response.status));
        }
        await readEvents(response, (data) => {
          if (data === "[DONE]") return;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          if (chunk.usage) tokens = chunk.usage.completion_tokens;
          for (const choice of chunk.choices || []) {
            if (choice.delta && choice.delta.content) {
              if (first === null) first = performance.now();
              chunks += 1;  // one token per chunk: the count when the stream is stopped before its usage
              reply.content += choice.delta.content;
              if (!pending) { pending = true; requestAnimationFrame(paint); }
            }
            if (choice.finish_reason) finish = choice.finish_reason;
          }
        });
      } catch (error) {
        if (error.name === "AbortError") finish = "stopped";
        else { reply.error = true; reply.content += (reply.content ? "\n\n" : "") + "⚠ " + error.message; }
      }
      const ended = performance.now();
      if (!tokens) tokens = chunks;
      const rate = first !== null && tokens > 1 && ended > first ? ((tokens - 1) / ((ended - first) / 1000)).toFixed(1) + " tok/s" : "";
      reply.stats = [first !== null ? "TTFT " + Math.round(first - started) + " ms" : "", rate,
                     tokens ? tokens + " tokens" : "", finish && finish !== "stop" ? finish : ""].filter(Boolean).join(" · ");
      controller = null;
      $("send").disabled = false; $("stop").disabled = true;
      save(); render();
    }

    $("composer").onsubmit = (event) => {
      event.preventDefault();
      const text = $("input").value.trim();
      if (!text || controller) return;
      $("input").value = "";
      send(text);
    };
    $("input").onkeydown = (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
    };
    $("stop").onclick = () => { if (controller) controller.abort(); };
    $("new-chat").onclick = () => { newConversation(); $("input").focus(); };
    $("system-prompt").onchange = () => { const c = current(); if (c) { c.system = $("system-prompt").value; save(); } };
    $("forget-key").onclick = () => { localStorage.removeItem("brigade.apiKey"); };
    $("toggle-sidebar").onclick = () => $("sidebar").classList.toggle("open");
    setUpTheme();
    const settings = store.get("settings", null);
    if (settings) {
      $("temperature").value = settings.temperature; $("top-p").value = settings.topP;
      $("max-tokens").value = settings.maxTokens; $("seed").value = settings.seed;
    }
    if (currentID && !current()) currentID = null;
    render();
    loadModel();
    </script>
    </body></html>
    """#.replacingOccurrences(of: "/*STYLE*/", with: WebStyle.css).replacingOccurrences(of: "/*COMMON*/", with: WebScript.common)
}
