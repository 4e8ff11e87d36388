// Shared by every page: the API wrapper (CSRF header on changes), DOM building without innerHTML, page switching.
"use strict";
// Every new word of the page goes through t(key, english); the catalogues (when present) replace the fallback.
window.t = window.t || ((key, en) => en);
const EA = { session: null, pages: {}, timers: [] };

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

// Static words of index.html carry data-t="key" (their English as text): put through t() once at start
EA.translateStatic = function () {
  document.querySelectorAll("[data-t]").forEach((node) => { node.textContent = t(node.dataset.t, node.textContent); });
};
