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
  EA.route();
};

EA.route = function () {
  if (!EA.session) return EA.show("login");
  const name = (location.hash || "#overview").slice(1);
  EA.show(EA.pages[name] && name !== "login" ? name : "overview");
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
