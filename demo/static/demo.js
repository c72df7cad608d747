// Mend demo page: draws the chats from the server's event stream and acts through its API.
// Every text a person or the bot wrote goes into the page with textContent, never as HTML.
"use strict";

const ORDER = ["ana", "group", "ben"]; // left to right
const COMMAND = /(^|[\s(])(\/[A-Za-z][A-Za-z0-9_]{0,31})(?=$|[\s.,;:!?)])/g;

const state = {
  me: "ana",
  bot: { name: "Mend", username: "" },
  people: new Map(), // key -> {key, name, role}
  chats: new Map(), // key -> {info, el, list, messages: Map(id -> message), reply: null}
  clock: null,
  resumed: false,
  connected: false,
};

const $ = (selector, root = document) => root.querySelector(selector);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ talking to the server

async function api(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (error) {
    toast("The demo is not answering. Is it still running?", { kind: "error" });
    return null;
  }
  let data = {};
  try { data = await response.json(); } catch (error) { data = {}; }
  if (!response.ok || data.ok === false) {
    toast(data.error || `Something went wrong (${response.status}).`, { kind: "error" });
    return null;
  }
  return data;
}

function connect() {
  const source = new EventSource("/api/events");
  source.onopen = () => setStatus(null);
  source.onerror = () => setStatus(state.connected ? "Reconnecting to the demo…" : "Connecting to the demo…");
  source.onmessage = (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch (error) { return; }
    handle(data);
  };
}

function handle(event) {
  switch (event.type) {
    case "state": return loadState(event);
    case "message": return upsertMessage(event.chat, event.message, true);
    case "deleted": return removeMessage(event.chat, event.message_id);
    case "answer": return showAnswer(event);
    case "clock": return setClock(event.clock);
    default: return undefined;
  }
}

function setStatus(text) {
  const status = $("#status");
  status.hidden = !text;
  if (text) status.textContent = text;
}

// ------------------------------------------------------------------ building the page

function loadState(snapshot) {
  state.connected = true;
  state.bot = snapshot.bot;
  state.resumed = snapshot.resumed;
  state.people = new Map(snapshot.people.map((p) => [p.key, p]));
  buildLanguages(snapshot.languages || [], snapshot.language);
  if (!state.chats.size) {
    buildSwitch();
    const infos = new Map(snapshot.chats.map((c) => [c.key, c]));
    for (const key of ORDER) if (infos.has(key)) buildChat(infos.get(key));
  }
  for (const [key, chat] of state.chats) {
    chat.messages.clear();
    chat.list.replaceChildren();
    for (const message of snapshot.messages[key] || []) upsertMessage(key, message, false);
    showEmpty(key);
    scrollToEnd(chat, true);
  }
  if (state.resumed) {
    const note = el("li", "msg service note",
      "Continuing the demo from its saved database: earlier messages are not shown here. " +
      "Run python -m bot demo --fresh to start over.");
    state.chats.get("group").list.prepend(note);
  }
  setMe(state.me);
  setClock(snapshot.clock);
}

// The people's Telegram language (?lang=de in the address sets it too): Mend reads it when
// someone joins or first writes, as Telegram would send it.
function buildLanguages(choices, current) {
  const select = $("#language");
  if (!select.options.length) {
    for (const choice of choices) {
      const option = el("option", null, choice.name);
      option.value = choice.code;
      select.append(option);
    }
    select.addEventListener("change", () => setLanguage(select.value));
  }
  select.value = current;
  const wanted = new URLSearchParams(window.location.search).get("lang");
  if (wanted && wanted !== current && !state.languageAsked) {
    state.languageAsked = true;
    setLanguage(wanted);
  }
}

async function setLanguage(code) {
  const result = await api("/api/language", { language: code });
  if (!result) return;
  $("#language").value = result.language;
  toast(`Ana, Ben and Cleo now use Telegram in ${$("#language").selectedOptions[0].textContent}. ` +
    "Already joined? /language changes it in Mend.");
}

function personName(key) {
  if (key === "bot") return state.bot.name;
  const person = state.people.get(key);
  return person ? person.name : key;
}

function buildSwitch() {
  const box = $("#who");
  box.replaceChildren();
  for (const person of state.people.values()) {
    const button = el("button");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.dataset.person = person.key;
    const dot = el("span", `dot dot-${person.key}`);
    dot.style.background = `var(--${person.key})`;
    button.append(dot, document.createTextNode(person.name));
    if (person.role === "stranger") button.append(el("span", "sub", "(stranger)"));
    button.addEventListener("click", () => setMe(person.key));
    box.append(button);
  }
}

function setMe(key) {
  state.me = key;
  for (const button of document.querySelectorAll("#who button")) {
    button.setAttribute("aria-checked", String(button.dataset.person === key));
  }
  const person = state.people.get(key);
  $("#who-hint").textContent = person && person.role === "stranger"
    ? `${person.name} is in the group but not in the couple.`
    : "Buttons and links in the group are pressed by this person.";
  for (const [chatKey, chat] of state.chats) {
    chat.el.classList.toggle("mine", chatKey === key);
    if (chatKey === "group") {
      chat.el.dataset.me = key;
      chat.basePlaceholder = `Message as ${personName(key)}…`;
      setReply(chatKey, chat.reply);
      for (const item of chat.list.querySelectorAll(".msg[data-from]")) {
        item.classList.toggle("out", item.dataset.from === key);
      }
    }
  }
}

function buildChat(info) {
  const fragment = $("#chat-template").content.cloneNode(true);
  const section = $(".chat", fragment);
  section.classList.add(info.type);
  section.dataset.chat = info.key;
  const avatar = $(".avatar", section);
  const [title, subtitle] = [$("h2", section), $(".chat-title p", section)];
  if (info.type === "group") {
    avatar.textContent = "A&B";
    title.textContent = info.title;
    subtitle.textContent = `group · ${info.members.map(personName).join(", ")}, ${state.bot.name}`;
  } else {
    avatar.textContent = state.bot.name.slice(0, 1);
    title.textContent = state.bot.name;
    subtitle.textContent = `${personName(info.owner)}'s private chat · @${state.bot.username}`;
  }
  const chat = {
    info,
    el: section,
    list: $(".messages", section),
    input: $("textarea", section),
    form: $("form", section),
    replyBar: $(".reply-bar", section),
    toasts: $(".chat-toasts", section),
    messages: new Map(),
    reply: null,
  };
  chat.basePlaceholder = info.type === "private"
    ? `Message ${state.bot.name} as ${personName(info.owner)}…`
    : "Message…";
  chat.input.placeholder = chat.basePlaceholder;
  chat.form.addEventListener("submit", (event) => { event.preventDefault(); send(info.key); });
  chat.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send(info.key);
    }
  });
  chat.input.addEventListener("input", () => autosize(chat.input));
  $(".reply-cancel", section).addEventListener("click", () => setReply(info.key, null));
  state.chats.set(info.key, chat);
  $("#chats").append(section);
}

function autosize(textarea) {
  textarea.style.height = "auto";
  textarea.style.height = `${Math.min(textarea.scrollHeight, 120)}px`;
}

function showEmpty(key) {
  const chat = state.chats.get(key);
  const existing = $(".empty", chat.list);
  if (chat.messages.size) { if (existing) existing.remove(); return; }
  if (existing) return;
  const text = key === "group"
    ? "Nothing here yet."
    : `No messages yet. ${state.bot.name} can write to ${personName(key)} here once ` +
      `${personName(key)} opens this chat — the "Open my private chat" button in the group does that.`;
  chat.list.append(el("li", "empty", text));
}

// ------------------------------------------------------------------ messages

function actorIn(chatKey) {
  return chatKey === "group" ? state.me : chatKey;
}

function nearEnd(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function scrollToEnd(chat, force) {
  if (force || chat.stick) chat.list.scrollTop = chat.list.scrollHeight;
}

function upsertMessage(chatKey, message, live) {
  const chat = state.chats.get(chatKey);
  if (!chat) return;
  const isNew = !chat.messages.has(message.id);
  chat.stick = nearEnd(chat.list);
  chat.messages.set(message.id, message);
  const node = renderMessage(chatKey, message);
  const old = chat.list.querySelector(`[data-id="${message.id}"]`);
  if (old) old.replaceWith(node);
  else chat.list.append(node);
  showEmpty(chatKey);
  if (isNew) scrollToEnd(chat, live && message.from !== "bot" ? true : false);
  if (live && isNew && message.force_reply && message.from === "bot") {
    setReply(chatKey, message.id);
  }
  if (chat.reply === message.id) setReply(chatKey, message.id); // keep the quote current
}

function removeMessage(chatKey, messageId) {
  const chat = state.chats.get(chatKey);
  if (!chat) return;
  chat.messages.delete(messageId);
  const node = chat.list.querySelector(`[data-id="${messageId}"]`);
  if (node) node.remove();
  if (chat.reply === messageId) setReply(chatKey, null);
  showEmpty(chatKey);
}

function clockTime(seconds) {
  const zone = (state.clock && state.clock.zone) || "UTC";
  try {
    return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: zone })
      .format(new Date(seconds * 1000));
  } catch (error) {
    return "";
  }
}

function renderMessage(chatKey, message) {
  const item = el("li", "msg");
  item.dataset.id = String(message.id);
  if (message.service) {
    item.classList.add("service");
    item.textContent = message.service;
    return item;
  }
  const fromBot = message.from === "bot";
  item.dataset.from = message.from;
  item.classList.add(fromBot ? "bot" : "user");
  if (chatKey === "group" && message.from === state.me) item.classList.add("out");
  if (message.force_reply) item.classList.add("force");

  const bubble = el("div", "bubble");
  if (chatKey === "group") {
    bubble.append(el("div", `sender ${fromBot ? "bot" : message.from}`, message.name));
  }
  if (message.reply_to) {
    const quote = el("div", `quote ${message.reply_to.name === state.bot.name ? "" : keyOfName(message.reply_to.name)}`);
    quote.append(el("span", "who-name", message.reply_to.name), document.createTextNode(message.reply_to.text));
    bubble.append(quote);
  }
  if (message.document) {
    const link = el("a", "doc", `${message.document.name} (${formatSize(message.document.size)})`);
    link.href = `/api/file/${encodeURIComponent(chatKey)}/${message.id}`;
    link.setAttribute("download", message.document.name);
    bubble.append(link);
  }
  if (message.text) {
    const text = el("div", "text");
    renderText(text, message.text, message.entities || [], fromBot ? chatKey : null);
    bubble.append(text);
  }
  const meta = el("div", "meta");
  if (fromBot) {
    const reply = el("button", "reply-link", "↩ Reply");
    reply.type = "button";
    reply.title = "Answer this message (in a group, Mend only sees replies to its own messages)";
    reply.addEventListener("click", () => { setReply(chatKey, message.id); state.chats.get(chatKey).input.focus(); });
    meta.append(reply);
  }
  if (message.force_reply) meta.append(el("span", "asks", "asks for a reply"));
  if (!fromBot && chatKey === "group" && message.delivered === false) {
    const unseen = el("span", "unseen", "Mend doesn't see this");
    unseen.title = "In a group, Mend only receives commands and replies to its own messages.";
    meta.append(unseen);
  }
  if (message.edited) meta.append(el("span", "", "edited"));
  meta.append(el("span", "", clockTime(message.date)));
  bubble.append(meta);
  item.append(bubble);

  if (message.buttons && message.buttons.length) item.append(renderKeyboard(chatKey, message));
  return item;
}

function keyOfName(name) {
  for (const person of state.people.values()) if (person.name === name) return person.key;
  return "";
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

const STYLE_TAGS = {
  bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code", pre: "code",
  spoiler: "span", mention: "span", hashtag: "span", bot_command: "span", email: "span",
  phone_number: "span", cashtag: "span", blockquote: "span", expandable_blockquote: "span",
};

// Text with Telegram entities (UTF-16 offsets, like JavaScript strings). `commandChat`:
// the chat in which a bare /command in the bot's text may be tapped to send it.
function renderText(container, text, entities, commandChat) {
  const points = new Set([0, text.length]);
  for (const entity of entities) {
    points.add(entity.offset);
    points.add(Math.min(text.length, entity.offset + entity.length));
  }
  const cuts = [...points].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  for (let i = 0; i < cuts.length - 1; i += 1) {
    const [start, end] = [cuts[i], cuts[i + 1]];
    const piece = text.slice(start, end);
    const active = entities.filter((e) => e.offset <= start && e.offset + e.length >= end);
    if (!active.length) {
      appendPlain(container, piece, commandChat);
      continue;
    }
    let node = document.createTextNode(piece);
    for (const entity of active) {
      let wrapper;
      if (entity.type === "text_link" || entity.type === "url") {
        const href = entity.type === "url" ? piece : entity.url;
        wrapper = safeLink(href);
      } else if (entity.type === "bot_command" && commandChat) {
        wrapper = commandButton(commandChat, piece);
      } else {
        wrapper = document.createElement(STYLE_TAGS[entity.type] || "span");
        if (entity.type === "spoiler") {
          wrapper.className = "spoiler";
          wrapper.addEventListener("click", () => wrapper.classList.add("open"));
        }
        if (entity.type === "bot_command" || entity.type === "mention") wrapper.className = "cmd";
      }
      wrapper.append(node);
      node = wrapper;
    }
    container.append(node);
  }
}

function appendPlain(container, piece, commandChat) {
  if (!commandChat) { container.append(document.createTextNode(piece)); return; }
  let last = 0;
  for (const match of piece.matchAll(COMMAND)) {
    const start = match.index + match[1].length;
    container.append(document.createTextNode(piece.slice(last, start)));
    container.append(commandButton(commandChat, match[2]));
    last = start + match[2].length;
  }
  container.append(document.createTextNode(piece.slice(last)));
}

function commandButton(chatKey, command) {
  const button = el("button", "cmd", command);
  button.type = "button";
  button.title = `Send ${command}`;
  button.addEventListener("click", () => sendText(chatKey, actorIn(chatKey), command.split("@")[0]));
  return button;
}

function safeLink(href) {
  const link = document.createElement("a");
  if (/^https?:\/\//i.test(href || "")) {
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
  }
  return link;
}

function renderKeyboard(chatKey, message) {
  const board = el("div", "keyboard");
  for (const row of message.buttons) {
    const line = el("div", "row");
    for (const button of row) {
      const node = el("button", "kb", button.text);
      node.type = "button";
      if (button.url) {
        node.classList.add("url");
        node.title = button.url;
        node.addEventListener("click", () => openUrl(chatKey, button.url));
      } else if (button.callback_data !== undefined) {
        node.addEventListener("click", () => press(chatKey, message.id, button.callback_data, node));
      }
      line.append(node);
    }
    board.append(line);
  }
  return board;
}

// ------------------------------------------------------------------ acting

async function sendText(chatKey, person, text, replyTo) {
  const body = { as: person, chat: chatKey, text };
  if (replyTo) body.reply_to = replyTo;
  return api("/api/send", body);
}

async function send(chatKey) {
  const chat = state.chats.get(chatKey);
  const text = chat.input.value.trim();
  if (!text) return;
  chat.input.disabled = true;
  const result = await sendText(chatKey, actorIn(chatKey), text, chat.reply);
  chat.input.disabled = false;
  if (result) {
    chat.input.value = "";
    autosize(chat.input);
    setReply(chatKey, null);
  }
  chat.input.focus();
}

async function press(chatKey, messageId, data, node) {
  node.classList.add("busy");
  const result = await api("/api/press", { as: actorIn(chatKey), chat: chatKey, message_id: messageId, data });
  if (!result) node.classList.remove("busy");
  setTimeout(() => node.classList.remove("busy"), 4000);
}

function openUrl(chatKey, url) {
  const match = /^https:\/\/t\.me\/([A-Za-z0-9_]+)\?start=([A-Za-z0-9_-]{1,64})$/.exec(url);
  if (match && match[1].toLowerCase() === (state.bot.username || "").toLowerCase()) {
    const person = actorIn(chatKey);
    const target = state.chats.get(person);
    if (!target) {
      toast(`${personName(person)} isn't in the couple, so this demo gives her no private chat ` +
            `with ${state.bot.name}. Switch to Ana or Ben to follow this link.`);
      return;
    }
    // What Telegram does with a t.me/<bot>?start= link: open the private chat, press Start.
    sendText(person, person, `/start ${match[2]}`);
    target.el.classList.add("flash");
    target.el.scrollIntoView({ block: "nearest" }); // narrow screens: the chats are stacked
    setTimeout(() => target.el.classList.remove("flash"), 900);
    return;
  }
  if (/^https?:\/\//i.test(url)) window.open(url, "_blank", "noopener,noreferrer");
}

function setReply(chatKey, messageId) {
  const chat = state.chats.get(chatKey);
  const message = messageId === null ? null : chat.messages.get(messageId);
  chat.reply = message ? message.id : null;
  chat.replyBar.hidden = !message;
  // A force-reply may suggest what to write, as Telegram shows in the input field.
  chat.input.placeholder = (message && message.placeholder) || chat.basePlaceholder;
  if (message) {
    $(".reply-name", chat.replyBar).textContent = `Reply to ${message.name}`;
    $(".reply-text", chat.replyBar).textContent = message.text || (message.document && message.document.name) || "";
  }
}

// ------------------------------------------------------------------ notices

function showAnswer(event) {
  const chat = state.chats.get(event.chat);
  if (chat) {
    const node = chat.list.querySelector(`[data-id="${event.message_id}"]`);
    if (node) for (const button of node.querySelectorAll(".kb.busy")) button.classList.remove("busy");
  }
  if (!event.text) return;
  // Like Telegram: the answer to a tap shows over the chat where the button was.
  toast(event.text, {
    who: `${state.bot.name} → ${personName(event.person)}`,
    kind: event.show_alert ? "alert" : "",
    box: chat ? chat.toasts : null,
  });
}

function toast(text, options = {}) {
  const box = el("div", `toast ${options.kind || ""}`);
  if (options.who) box.append(el("span", "toast-who", options.who));
  box.append(el("span", "toast-text", text));
  const close = el("button", "", "×");
  close.type = "button";
  close.setAttribute("aria-label", "Dismiss");
  close.addEventListener("click", () => box.remove());
  box.append(close);
  const place = options.box || $("#toasts");
  place.append(box);
  // One answer at a time over a chat (like Telegram), a few at most in the corner.
  while (place.children.length > (options.box ? 1 : 3)) place.firstElementChild.remove();
  if (options.kind !== "alert") setTimeout(() => box.remove(), options.kind === "error" ? 6000 : 4000);
}

// ------------------------------------------------------------------ the demo clock

function setClock(clock) {
  if (!clock) return;
  const zoneChanged = !state.clock || state.clock.zone !== clock.zone;
  state.clock = clock;
  tick();
  if (zoneChanged) {
    for (const [key, chat] of state.chats) {
      for (const message of chat.messages.values()) upsertMessage(key, message, false);
    }
  }
}

function formatMoment(date, withDay) {
  const zone = (state.clock && state.clock.zone) || "UTC";
  const options = { hour: "2-digit", minute: "2-digit", timeZone: zone };
  if (withDay) Object.assign(options, { weekday: "short", day: "numeric", month: "short" });
  try {
    return new Intl.DateTimeFormat("en-GB", options).format(date);
  } catch (error) {
    return date.toISOString();
  }
}

function duration(ms) {
  const minutes = Math.round(ms / 60000);
  if (minutes < 1) return "less than a minute";
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  const parts = [];
  if (days) parts.push(`${days} d`);
  if (hours) parts.push(`${hours} h`);
  if (rest && !days) parts.push(`${rest} min`);
  return parts.join(" ");
}

function tick() {
  const clock = state.clock;
  if (!clock) return;
  const now = new Date(Date.now() + clock.offset_ms);
  $("#clock-now").textContent = formatMoment(now, true);
  const ahead = clock.offset_ms > 30000 ? ` · ${duration(clock.offset_ms)} ahead` : "";
  $("#clock-zone").textContent = `${clock.zone}${ahead}`;
  const next = $("#clock-next");
  if (clock.next_due) {
    const due = new Date(clock.next_due);
    const left = due - now;
    next.textContent = left > 0
      ? `Next scheduled: ${formatMoment(due, true)} (in ${duration(left)})`
      : "Something is due now: Mend will act in a moment.";
  } else {
    next.textContent = "Nothing scheduled";
  }
}

function setupTime() {
  for (const button of document.querySelectorAll(".time-buttons button")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const body = button.dataset.next ? { next: true } : { minutes: Number(button.dataset.minutes) };
      const result = await api("/api/time", body);
      button.disabled = false;
      if (!result) return;
      setClock(result.clock);
      if (result.note) toast(result.note);
      else if (result.due) toast(`Moved to the next scheduled moment: ${formatMoment(new Date(result.due), true)}`);
    });
  }
  setInterval(tick, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  setupTime();
  connect();
});
