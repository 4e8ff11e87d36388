// Start-up: who is logged in, the login form, the tabs, logging out.
"use strict";
EA.pages.login = { open() { document.getElementById("login-password").focus(); } };

EA.start = async function () {
  const { ok, data } = await EA.json("GET", "/api/session");
  if (ok) EA.loggedIn(data);
  else EA.loggedOut();
};

EA.loggedIn = function (session) {
  EA.session = session;
  document.getElementById("nav").hidden = false;
  document.getElementById("whoami").textContent = session.user;
  // an operator sees the console only (the technician's routes answer it 403 anyway)
  const operator = session.role === "operator";
  document.querySelectorAll("header nav a").forEach((a) => { a.hidden = operator && a.id !== "tab-console"; });
  EA.route();
};

EA.route = function () {
  if (!EA.session) return EA.show("login");
  const fallback = EA.session.role === "operator" ? "console" : "overview";
  const name = (location.hash || "#" + fallback).slice(1);
  const allowed = EA.session.role !== "operator" || name === "console";
  EA.show(EA.pages[name] && name !== "login" && allowed ? name : fallback);
};

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const user = document.getElementById("login-user").value;
  const password = document.getElementById("login-password").value;
  const { ok, data } = await EA.json("POST", "/api/login", { user, password });
  document.getElementById("login-password").value = "";
  if (!ok) {
    error.textContent = EA.serverText(data.error) || t("login.failed", "login failed");
    return;
  }
  const session = await EA.json("GET", "/api/session");
  if (session.ok) EA.loggedIn(session.data);
});

document.getElementById("logout").addEventListener("click", async () => {
  await EA.api("POST", "/api/logout");
  EA.loggedOut();
});

window.addEventListener("hashchange", EA.route);
EA.start();
