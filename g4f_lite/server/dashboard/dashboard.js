// The g4f-lite dashboard: polls GET v1/dashboard/state and chats through
// POST v1/chat/completions. Plain browser JavaScript, no dependencies.
// Every text from the server goes through textContent, never innerHTML:
// error messages quote upstream pages.
"use strict";

(() => {
  const KEY_STORAGE = "g4f-lite-api-key";
  const SVG = "http://www.w3.org/2000/svg";
  // URLs relative to the page (served at /dashboard), so a reverse proxy
  // may mount the server under a prefix.
  const STATE_URL = "v1/dashboard/state";
  const PROVIDERS_URL = "v1/providers";
  const CHAT_URL = "v1/chat/completions";

  const authRequired = document.documentElement.dataset.auth === "required";
  const $ = (id) => document.getElementById(id);

  let refreshMs = 2000;
  let timer = null;
  let lastState = null;
  let lastFetchedAt = 0;
  const conversation = [];

  // -- the API key -------------------------------------------------------------

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function headers(extra) {
    const result = Object.assign({}, extra || {});
    const key = apiKey();
    if (key) result.Authorization = "Bearer " + key;
    return result;
  }

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.className = "status" + (kind ? " " + kind : "");
  }

  function askForKey(message) {
    $("key-form").classList.add("needed");
    setStatus(message, "auth");
    $("key-input").focus();
  }

  // -- helpers -----------------------------------------------------------------

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function milliseconds(value) {
    if (value === null || value === undefined) return "—";
    return value >= 1000 ? (value / 1000).toFixed(2) + " s" : Math.round(value) + " ms";
  }

  function ago(seconds) {
    if (seconds < 60) return Math.round(seconds) + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }

  function sparkline(values) {
    const width = 120;
    const height = 28;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("role", "img");
    const base = document.createElementNS(SVG, "line");
    base.setAttribute("x1", "0");
    base.setAttribute("x2", String(width));
    base.setAttribute("y1", String(height - 1));
    base.setAttribute("y2", String(height - 1));
    svg.appendChild(base);
    const title = document.createElementNS(SVG, "title");
    if (values.length === 0) {
      title.textContent = "no successful request yet";
      svg.appendChild(title);
      return svg;
    }
    const max = Math.max(...values) || 1;
    const step = values.length > 1 ? width / (values.length - 1) : 0;
    const points = values.map((value, index) => {
      const x = values.length > 1 ? index * step : width / 2;
      const y = height - 2 - (value / max) * (height - 4);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    if (points.length === 1) points.push((width / 2 + 1).toFixed(1) + points[0].slice(points[0].indexOf(",")));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.appendChild(line);
    title.textContent = `${values.length} recent requests, up to ${milliseconds(max)}`;
    svg.appendChild(title);
    return svg;
  }

  // -- the providers table -----------------------------------------------------

  function visible(provider) {
    return (
      $("show-all").checked ||
      provider.available === true ||
      provider.configured ||
      provider.requests > 0
    );
  }

  function availabilityCell(provider) {
    const cell = element("td", "available");
    if (provider.excluded) {
      const badge = element("span", "badge excluded", "excluded");
      badge.title = provider.excluded;
      cell.appendChild(badge);
    } else if (provider.available === true) {
      cell.appendChild(element("span", "badge yes", "yes"));
    } else if (provider.available === false) {
      cell.appendChild(element("span", "badge no", "no"));
    } else {
      cell.appendChild(element("span", "badge unknown", "unknown"));
    }
    return cell;
  }

  // A benched provider's badge counts its cooldown down between two polls.
  function breakerCell(provider, fetchedAt) {
    const cell = element("td", "breaker");
    const labels = { closed: "closed", half_open: "half-open", auth_failed: "auth failed" };
    const badge = element("span", "badge " + provider.state);
    if (provider.benched) {
      badge.dataset.until = String(fetchedAt + provider.cooldown_remaining * 1000);
      badge.textContent = "benched " + Math.ceil(provider.cooldown_remaining) + " s";
    } else {
      badge.textContent = labels[provider.state] || provider.state;
    }
    cell.appendChild(badge);
    return cell;
  }

  function errorsCell(provider) {
    const cell = element("td", "errors");
    const list = element("ul", "errors");
    const shown = provider.errors.slice(0, 3);
    for (const error of shown) {
      const item = element("li");
      item.appendChild(element("span", "age", ago(error.age)));
      item.appendChild(document.createTextNode(error.message));
      list.appendChild(item);
    }
    if (shown.length === 0) {
      // Failures this server did not see (another instance, an earlier call).
      const routerError = provider.targets.map((t) => t.last_error).find(Boolean);
      if (routerError) list.appendChild(element("li", null, routerError));
    }
    cell.appendChild(list);
    return cell;
  }

  function nameCell(provider) {
    const cell = element("td", "name");
    cell.appendChild(element("strong", null, provider.name));
    if (provider.target) cell.appendChild(element("span", "target", provider.target));
    for (const target of provider.targets.slice(1)) {
      const line = element("div", "extra-target");
      line.appendChild(element("span", "target", (target.target || "?") + " "));
      line.appendChild(element("span", "badge " + target.state, target.state.replace("_", "-")));
      cell.appendChild(line);
    }
    return cell;
  }

  function row(provider, fetchedAt) {
    const tr = element("tr");
    tr.dataset.provider = provider.name;
    tr.dataset.state = provider.state;
    if (provider.available === false || provider.excluded) tr.classList.add("unavailable");
    if (provider.benched) tr.classList.add("benched");
    tr.appendChild(nameCell(provider));
    tr.appendChild(availabilityCell(provider));
    tr.appendChild(breakerCell(provider, fetchedAt));
    tr.appendChild(element("td", "num rate", String(provider.requests_per_minute)));
    tr.appendChild(element("td", "num p50", milliseconds(provider.p50_ms)));
    tr.appendChild(element("td", "num p95", milliseconds(provider.p95_ms)));
    const spark = element("td", "spark");
    spark.appendChild(sparkline(provider.latencies_ms));
    tr.appendChild(spark);
    tr.appendChild(errorsCell(provider));
    return tr;
  }

  function render(state, fetchedAt) {
    $("version").textContent = "v" + state.version;
    const body = document.querySelector("#providers tbody");
    const shown = state.providers.filter(visible);
    body.replaceChildren(...shown.map((provider) => row(provider, fetchedAt)));
    const hidden = state.providers.length - shown.length;
    $("hidden-count").textContent = hidden > 0 ? `(${hidden} more)` : "";
    $("no-providers").hidden = shown.length > 0;
  }

  function tickCooldowns() {
    const now = performance.now();
    for (const badge of document.querySelectorAll(".badge[data-until]")) {
      const left = Math.max(0, Math.ceil((Number(badge.dataset.until) - now) / 1000));
      badge.textContent = left > 0 ? "benched " + left + " s" : "probing soon";
    }
  }

  // -- polling -----------------------------------------------------------------

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    if (authRequired && !apiKey()) {
      askForKey("enter the API key");
      return;
    }
    let response;
    try {
      response = await fetch(STATE_URL, { headers: headers(), cache: "no-store" });
    } catch (error) {
      setStatus("server unreachable, retrying", "error");
      schedule(refreshMs * 2);
      return;
    }
    if (response.status === 401) {
      askForKey("the API key was refused");
      return;
    }
    if (!response.ok) {
      setStatus("state unavailable (HTTP " + response.status + ")", "error");
      schedule(refreshMs * 2);
      return;
    }
    const state = await response.json();
    lastState = state;
    lastFetchedAt = performance.now();
    refreshMs = Math.max(500, (state.refresh_seconds || 2) * 1000);
    $("key-form").classList.remove("needed");
    render(state, lastFetchedAt);
    setStatus("live · updated " + new Date().toLocaleTimeString(), "live");
    schedule(refreshMs);
  }

  // -- the chat box ------------------------------------------------------------

  async function loadProviders() {
    if (authRequired && !apiKey()) return;
    let listing;
    try {
      const response = await fetch(PROVIDERS_URL, { headers: headers() });
      if (!response.ok) return;
      listing = await response.json();
    } catch (error) {
      return;
    }
    const select = $("chat-provider");
    const chosen = select.value;
    const options = [new Option("auto", "")];
    for (const provider of listing.data) {
      if (provider.excluded || provider.available === false) continue;
      options.push(new Option(provider.name, provider.name));
    }
    select.replaceChildren(...options);
    select.value = options.some((option) => option.value === chosen) ? chosen : "";
  }

  function addMessage(role, text) {
    const node = element("div", "message " + role, text);
    $("chat-log").appendChild(node);
    node.scrollIntoView({ block: "end" });
    return node;
  }

  function errorText(body, status) {
    if (body && body.error && body.error.message) return body.error.message;
    return "HTTP " + status;
  }

  // Reads an SSE stream of chat.completion.chunk events into `node`.
  async function readStream(response, node) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let text = "";
    let provider = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") return { text, provider };
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || "the stream failed");
          provider = chunk.provider || provider;
          const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
          if (delta && delta.content) {
            text += delta.content;
            node.textContent = text;
          }
        }
      }
    }
    throw new Error("the stream ended before [DONE]");
  }

  async function send(event) {
    event.preventDefault();
    const input = $("chat-input");
    const content = input.value.trim();
    if (!content) return;
    if (authRequired && !apiKey()) {
      askForKey("enter the API key to chat");
      return;
    }
    input.value = "";
    addMessage("user", content);
    conversation.push({ role: "user", content });
    const body = { model: $("chat-model").value.trim(), messages: conversation, stream: true };
    const provider = $("chat-provider").value;
    if (provider) body.provider = provider;
    const button = $("chat-send");
    button.disabled = true;
    const node = addMessage("assistant", "…");
    try {
      const response = await fetch(CHAT_URL, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        let answer = null;
        try {
          answer = await response.json();
        } catch (error) {
          // not JSON: the status says enough
        }
        throw new Error(errorText(answer, response.status));
      }
      const result = await readStream(response, node);
      node.textContent = result.text;
      if (result.provider) node.appendChild(element("span", "via", "via " + result.provider));
      conversation.push({ role: "assistant", content: result.text });
    } catch (error) {
      node.className = "message error";
      node.textContent = error.message;
      conversation.pop(); // the question goes unanswered: not part of the history
    } finally {
      button.disabled = false;
      // The request shows up in the table at once, not at the next poll.
      schedule(0);
    }
  }

  // -- wiring ------------------------------------------------------------------

  function start() {
    $("key-input").value = apiKey();
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
      setStatus("loading…");
      loadProviders();
      schedule(0);
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY_STORAGE);
      $("key-input").value = "";
      if (authRequired) askForKey("enter the API key");
    });
    $("show-all").addEventListener("change", () => {
      if (lastState) render(lastState, lastFetchedAt);
    });
    $("chat-form").addEventListener("submit", send);
    $("chat-input").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        $("chat-form").requestSubmit();
      }
    });
    $("chat-clear").addEventListener("click", () => {
      conversation.length = 0;
      $("chat-log").replaceChildren();
    });
    setInterval(tickCooldowns, 250);
    loadProviders();
    refresh();
  }

  start();
})();
