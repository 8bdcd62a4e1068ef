/// The pages' shared style sheet: light and dark themes (the system's choice unless the user picked one), and a
/// layout that works from a phone to a desktop.
enum WebStyle {
    static let css = #"""
    :root { --bg: #ffffff; --panel: #f4f5f7; --text: #1d2125; --muted: #5e6c84; --border: #dfe1e6; --accent: #3056d3;
            --user: #e9efff; --code: #f1f2f4; --busy: #2f9e44; --wait: #e8590c; --relay: #7048e8; --loop: #868e96; }
    [data-theme="dark"] { --bg: #16181d; --panel: #1f2329; --text: #e6e8eb; --muted: #9aa5b1; --border: #313640;
            --accent: #7c9cff; --user: #243056; --code: #262a31; --busy: #51cf66; --wait: #ff922b; --relay: #9775fa; --loop: #adb5bd; }
    @media (prefers-color-scheme: dark) {
      :root:not([data-theme="light"]) { --bg: #16181d; --panel: #1f2329; --text: #e6e8eb; --muted: #9aa5b1; --border: #313640;
            --accent: #7c9cff; --user: #243056; --code: #262a31; --busy: #51cf66; --wait: #ff922b; --relay: #9775fa; --loop: #adb5bd; }
    }
    * { box-sizing: border-box; }
    html, body { margin: 0; height: 100%; background: var(--bg); color: var(--text);
                 font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    a { color: var(--accent); }
    button, input, textarea, select { font: inherit; color: inherit; }
    button { background: var(--panel); border: 1px solid var(--border); border-radius: 6px; padding: 6px 12px; cursor: pointer; }
    button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
    button:disabled { opacity: .5; cursor: default; }
    input, textarea { background: var(--bg); border: 1px solid var(--border); border-radius: 6px; padding: 6px 8px; width: 100%; }
    header { display: flex; align-items: center; gap: 12px; padding: 8px 16px; border-bottom: 1px solid var(--border); }
    header h1 { font-size: 17px; margin: 0; }
    header .model { color: var(--muted); font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    header .spacer { flex: 1; }
    code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
    pre { background: var(--code); padding: 10px; border-radius: 6px; overflow-x: auto; }
    :not(pre) > code { background: var(--code); padding: 1px 4px; border-radius: 4px; }
    .muted { color: var(--muted); font-size: 12px; }
    """#
}

/// Script both pages share: reading a server-sent event stream from a `fetch` response (so that the API key can go in
/// a header, which `EventSource` cannot send), and the theme switch.
enum WebScript {
    static let common = #"""
    // Calls onData with the payload of every `data:` event of a streamed response, until the stream ends.
    async function readEvents(response, onData) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (event.startsWith("data: ")) onData(event.slice(6));
        }
      }
    }
    // The theme: the system's unless the user picked one with the button.
    function setUpTheme() {
      const saved = localStorage.getItem("brigade.theme");
      if (saved) document.documentElement.dataset.theme = JSON.parse(saved);
      document.getElementById("theme-toggle").onclick = () => {
        const dark = document.documentElement.dataset.theme
          ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
        document.documentElement.dataset.theme = dark ? "light" : "dark";
        localStorage.setItem("brigade.theme", JSON.stringify(document.documentElement.dataset.theme));
      };
    }
    """#
}
