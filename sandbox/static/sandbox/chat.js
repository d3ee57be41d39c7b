// The sandbox's chat page: a Telegram private chat drawn from the events the websocket pushes. The server sends
// message HTML already made safe (sandbox/telegram_html.py); everything else here is set as text.
(() => {
  "use strict";
  const chat = document.getElementById("chat");
  const messages = document.getElementById("messages");
  const input = document.getElementById("input");
  const menu = document.getElementById("menu");
  const status = document.getElementById("status");
  const bubbles = new Map();  // message id -> its row
  let lastSeq = 0;
  let socket = null;

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/sandbox/ws/?chat=${encodeURIComponent(chat.dataset.chat)}` +
      `&after=${lastSeq}`;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => { status.textContent = "bot"; chat.dataset.connected = "true"; });
    socket.addEventListener("close", () => {
      status.textContent = "connecting…";
      chat.dataset.connected = "false";
      setTimeout(connect, 1000);
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  }

  function send(payload) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(payload));
      return true;
    }
    notice("Not connected yet: try again in a moment.");
    return false;
  }

  function receive(event) {
    if (event.seq) lastSeq = Math.max(lastSeq, event.seq);
    if (event.type === "message" || event.type === "edit") draw(event);
    else if (event.type === "delete") remove(event.message_id);
    else if (event.type === "commands") drawMenu(event.commands);
    else if (event.type === "tokens") drawTokens(event.tokens);
    else if (event.type === "notice") notice(event.text);
    else if (event.type === "toast") toast(event.text, event.alert);
  }

  function draw(event) {
    let row = bubbles.get(event.message_id);
    if (!row) {
      if (event.type === "edit") return;  // an edit of a message this page never saw (deleted since)
      row = document.createElement("div");
      row.className = `row ${event.from_bot ? "from-bot" : "from-me"}`;
      row.dataset.messageId = event.message_id;
      bubbles.set(event.message_id, row);
      messages.appendChild(row);
    }
    row.replaceChildren();
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const text = document.createElement("div");
    text.className = "text";
    text.innerHTML = event.html;  // made safe on the server: Telegram's tags only, everything else escaped
    const meta = document.createElement("span");
    meta.className = "meta";
    const time = event.date ? new Date(event.date * 1000) : new Date();
    meta.textContent = `${event.edited ? "edited " : ""}${time.toTimeString().slice(0, 5)}`;
    text.appendChild(meta);
    bubble.appendChild(text);
    row.appendChild(bubble);
    if (event.buttons && event.buttons.length) row.appendChild(keyboard(event));
    row.classList.toggle("edited", Boolean(event.edited));
    scrollDown();
  }

  function keyboard(event) {
    const board = document.createElement("div");
    board.className = "keyboard";
    for (const buttons of event.buttons) {
      const line = document.createElement("div");
      line.className = "keyboard-row";
      for (const button of buttons) {
        const element = document.createElement(button.url ? "a" : "button");
        element.className = "kb-button";
        element.textContent = button.text;
        if (button.url) {
          element.href = button.url;
          element.target = "_blank";
          element.rel = "noopener noreferrer";
        } else {
          element.type = "button";
          element.dataset.data = button.data || "";
          element.addEventListener("click", () => {
            if (send({ type: "press", message_id: event.message_id, data: button.data })) {
              element.classList.add("pressed");
              setTimeout(() => element.classList.remove("pressed"), 600);
            }
          });
        }
        line.appendChild(element);
      }
      board.appendChild(line);
    }
    return board;
  }

  function remove(messageId) {
    const row = bubbles.get(messageId);
    if (row) {
      row.remove();
      bubbles.delete(messageId);
    }
  }

  function notice(text) {
    const row = document.createElement("div");
    row.className = "notice";
    row.textContent = text;
    messages.appendChild(row);
    scrollDown();
  }

  function toast(text, alert) {
    const box = document.createElement("div");
    box.className = alert ? "toast alert" : "toast";
    box.textContent = text;
    if (alert) {
      const ok = document.createElement("button");
      ok.type = "button";
      ok.textContent = "OK";
      ok.addEventListener("click", () => box.remove());
      box.appendChild(ok);
    } else {
      setTimeout(() => box.remove(), 3000);
    }
    chat.appendChild(box);
  }

  function drawMenu(commands) {
    menu.replaceChildren();
    for (const command of commands || []) {
      const item = document.createElement("button");
      item.type = "button";
      item.className = "menu-item";
      const name = document.createElement("b");
      name.textContent = `/${command.command}`;
      const about = document.createElement("span");
      about.textContent = command.description;
      item.append(name, about);
      item.addEventListener("click", () => {
        menu.hidden = true;
        input.value = `/${command.command} `;
        input.focus();
      });
      menu.appendChild(item);
    }
  }

  function drawTokens(tokens) {
    // Prices refresh every few seconds: update the rows in place, so a click never lands on a row being replaced.
    const list = document.getElementById("tokens");
    for (const token of tokens) {
      let row = list.querySelector(`li[data-mint="${CSS.escape(token.mint)}"]`);
      if (!row) {
        row = tokenRow(token);
        list.appendChild(row);
      }
      row.querySelector(".price").textContent = `${token.price_sol} SOL`;
    }
  }

  function tokenRow(token) {
    const item = document.createElement("li");
    item.className = "token-row";
    item.dataset.mint = token.mint;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "token";
    button.dataset.mint = token.mint;
    button.dataset.symbol = token.symbol;
    button.title = token.mint;
    const symbol = document.createElement("b");
    symbol.textContent = token.symbol;
    const price = document.createElement("span");
    price.className = "price";
    const mint = document.createElement("code");
    mint.textContent = `${token.mint.slice(0, 6)}…${token.mint.slice(-4)}`;
    button.append(symbol, price, mint);
    button.addEventListener("click", () => { input.value = token.mint; input.focus(); });
    item.appendChild(button);
    if (token.movable) item.appendChild(moves(token.symbol));
    return item;
  }

  function moves(symbol) {
    const box = document.createElement("span");
    box.className = "moves";
    for (const [kind, label, title] of [["pump", "▲", "Pump it: someone buys big"],
                                         ["rug", "▼", "Rug it: someone dumps a lot"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `move ${kind}`;
      button.dataset.kind = kind;
      button.dataset.symbol = symbol;
      button.title = title;
      button.textContent = label;
      button.addEventListener("click", () => send({ type: "move", symbol, kind }));
      box.appendChild(button);
    }
    return box;
  }

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  async function staffCode() {
    const code = document.getElementById("staff-code");
    let wait = 30;
    try {
      const answer = await (await fetch(code.dataset.url, { cache: "no-store" })).json();
      code.textContent = answer.code || "(no demo account)";
      document.getElementById("staff-code-left").textContent = answer.code ? `(${answer.seconds_left} s left)` : "";
      wait = Math.max(answer.seconds_left, 1);
    } catch (error) {
      code.textContent = "…";
    }
    setTimeout(staffCode, wait * 1000);
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text && send({ type: "say", text })) input.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });
  document.getElementById("menu-button").addEventListener("click", () => { menu.hidden = !menu.hidden; });
  document.getElementById("airdrop").addEventListener("click", () => send({ type: "airdrop" }));
  connect();
  staffCode();
})();
