// Shared by every page: the words (t), site times, the API wrapper (CSRF header on changes), DOM building without
// innerHTML, page switching.
"use strict";
const EA = { session: null, pages: {}, timers: [] };

// -- the words: /i18n.js (before this file) set window.EA_I18N to the chosen language's catalogue ---------------------
EA.i18n = window.EA_I18N || { lang: "en", languages: ["en"], messages: {} };
// t(key, english, vars): the catalogue's words for key, else the English given; each {name} filled in from vars
window.t = function (key, english, vars) {
  const messages = EA.i18n.messages;
  let text = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : english;
  if (vars) text = text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
  return text;
};

// Static words: <x data-i18n="key">English</x>; attributes: data-i18n-placeholder, data-i18n-title
EA.i18n.apply = function (root) {
  root.querySelectorAll("[data-i18n]").forEach((node) => {
    if (!node.dataset.i18nEnglish) node.dataset.i18nEnglish = node.textContent.trim();
    node.textContent = t(node.dataset.i18n, node.dataset.i18nEnglish);
  });
  for (const attribute of ["placeholder", "title"]) {
    root.querySelectorAll(`[data-i18n-${attribute}]`).forEach((node) => {
      node.setAttribute(attribute, t(node.getAttribute(`data-i18n-${attribute}`), node.getAttribute(attribute) || ""));
    });
  }
};

// The technician's choice, kept a year in a cookie the server reads (the catalogue is chosen there)
EA.i18n.choose = function (language) {
  document.cookie = `edge_agent_lang=${encodeURIComponent(language)}; path=/; max-age=31536000; samesite=strict`;
  location.reload();
};

document.documentElement.lang = EA.i18n.lang;
EA.i18n.apply(document);
{
  const select = document.getElementById("lang-select");
  select.value = EA.i18n.lang;
  select.addEventListener("change", () => EA.i18n.choose(select.value));
}

// -- times: in the site's time zone (web session's `timezone`), with the offset shown ----------------------------------
// "2026-12-06 21:07:01 +08:00" from epoch seconds or an ISO string; "" for none
EA.time = function (value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const zone = (EA.session && EA.session.timezone) || "UTC";
  let parts;
  try {
    const format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  } catch (e) {
    return date.toISOString();
  }
  const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offset = Math.round((local - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const minutes = String(Math.abs(offset) % 60).padStart(2, "0");
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ` +
    `${offset < 0 ? "-" : "+"}${hours}:${minutes}`;
};

// A protocol word (a phase, severity, delivery state) in the page's language; unknown ones as they are
EA.word = function (group, value) {
  return value === null || value === undefined || value === "" ? "" : t(`${group}.${value}`, String(value));
};

EA.api = async function (method, path, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    options.headers["Content-Type"] = "application/json";
    options.headers["X-CSRF-Token"] = EA.session ? EA.session.csrf : "";
    options.body = JSON.stringify(body || {});
  }
  const response = await fetch(path, options);
  if (response.status === 401 && path !== "/api/login") {
    EA.loggedOut();
  }
  return response;
};

EA.json = async function (method, path, body) {
  const response = await EA.api(method, path, body);
  let data = {};
  try { data = await response.json(); } catch (e) { data = {}; }
  return { status: response.status, ok: response.ok, data };
};

// el("td", {class: "x"}, "text", child): text is always text (names come from the config, never HTML)
EA.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

// Each cell carries its column's heading (data-label): on a narrow screen a row becomes a card of "heading value"
EA.table = function (table, headings, rows) {
  table.classList.add("reflow");
  table.replaceChildren(
    EA.el("tr", {}, ...headings.map((h) => EA.el("th", {}, h))),
    ...rows.map((row) => EA.el("tr", {},
      ...row.map((cell, i) => EA.el("td", { "data-label": headings[i] }, cell === undefined ? "" : cell))))
  );
};

EA.stopTimers = function () {
  EA.timers.forEach((t) => clearInterval(t));
  EA.timers = [];
};

EA.every = function (ms, fn) {
  fn();
  EA.timers.push(setInterval(fn, ms));
};

EA.show = function (name) {
  EA.stopTimers();
  document.querySelectorAll("main > section").forEach((s) => { s.hidden = s.id !== "page-" + name; });
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.id === "tab-" + name));
  const page = EA.pages[name];
  if (page && page.open) page.open();
};

EA.loggedOut = function () {
  EA.session = null;
  EA.stopTimers();
  document.getElementById("nav").hidden = true;
  EA.show("login");
};

// "camera:entrance" with its kind in the page's language ("摄像头:entrance"); the id as it is
EA.source = function (source) {
  const [kind, ...id] = String(source || "").split(":");
  return id.length ? `${EA.word("source_kind", kind)}:${id.join(":")}` : String(source || "");
};

// -- the server's words: a refusal or a config problem the page shows, in the page's language where it is one of
// the page's own phrases (clause by clause); key paths, names and values stay exactly as written
EA.serverPhrases = [
  [/^required key is missing$/, () => t("server.required", "required key is missing")],
  [/^unknown key ('[^']*')$/, (m) => t("server.unknown_key", "unknown key {key}", { key: m[1] })],
  [/^did you mean ('[^']*')\?$/, (m) => t("server.did_you_mean", "did you mean {name}?", { name: m[1] })],
  [/^valid keys here: (.*)$/, (m) => t("server.valid_keys", "valid keys here: {keys}", { keys: m[1] })],
  [/^found (.*)$/, (m) => t("server.found", "found {value}", { value: m[1] })],
  [/^expected a valid number, unable to parse string as a number$/, () => t("server.number", "expected a number")],
  [/^expected a valid integer, unable to parse string as an integer$/, () => t("server.integer", "expected a whole number")],
  [/^expected a valid boolean, unable to interpret input$/, () => t("server.boolean", "expected true or false")],
  [/^expected a valid list$/, () => t("server.list", "expected a list")],
  [/^expected a valid string$/, () => t("server.string", "expected text")],
  [/^expected greater than or equal to (\S+)$/, (m) => t("server.ge", "expected at least {n}", { n: m[1] })],
  [/^expected greater than (\S+)$/, (m) => t("server.gt", "expected more than {n}", { n: m[1] })],
  [/^expected less than or equal to (\S+)$/, (m) => t("server.le", "expected at most {n}", { n: m[1] })],
  [/^expected less than (\S+)$/, (m) => t("server.lt", "expected less than {n}", { n: m[1] })],
  [/^camera ('[^']*') has no zone ('[^']*') \(known: (.*)\)$/,
    (m) => t("server.no_zone", "camera {camera} has no zone {zone} (known: {known})",
      { camera: m[1], zone: m[2], known: m[3] })],
  [/^camera ('[^']*') has no line ('[^']*')(?: \(known: (.*)\))?$/,
    (m) => t("server.no_line", "camera {camera} has no line {line}", { camera: m[1], line: m[2] }) +
      (m[3] ? ` (${t("server.known", "known: {known}", { known: m[3] })})` : "")],
  [/^the two line points must differ$/, () => t("server.line_points", "the two line points must differ")],
  [/^in_side must not lie on the line$/, () => t("server.in_side", "in_side must not lie on the line")],
  [/^wrong user or password$/, () => t("server.wrong_password", "wrong user or password")],
  [/^too many failed logins$/, () => t("server.too_many", "too many failed logins")],
  [/^try again in (\d+) s$/, (m) => t("server.try_again", "try again in {s} s", { s: m[1] })],
  [/^log in first$/, () => t("server.log_in_first", "log in first")],
  [/^the config changed since this page loaded it$/,
    () => t("server.stale", "the config changed since this page loaded it")],
  [/^reload the page$/, () => t("server.reload_page", "reload the page")],
  [/^another Apply is in progress$/, () => t("server.apply_busy", "another Apply is in progress")],
  [/^wait for its outcome$/, () => t("server.wait_outcome", "wait for its outcome")],
];

EA.serverText = function (message) {
  if (message === null || message === undefined) return "";
  if (EA.i18n.lang === "en") return String(message);
  return String(message).split("; ").map((clause) => {
    for (const [pattern, say] of EA.serverPhrases) {
      const match = clause.match(pattern);
      if (match) return say(match);
    }
    return clause;
  }).join(t("server.separator", "; "));
};
